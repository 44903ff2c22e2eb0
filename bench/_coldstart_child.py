"""One cold start in a fresh interpreter; ``bench/coldstart.py`` runs this file once per measurement.

    python -I -S -B bench/_coldstart_child.py HANDLER PATHS SERVICES

``HANDLER`` is the function's handler (``app.lambda_handler``), or ``-`` for the bare boto3 baseline;
``PATHS`` are the folders put first on ``sys.path`` (``:``-separated: the function, the layer's
``python/``, the runtime's packages); ``SERVICES`` are the comma-separated clients to build.

The clock starts before anything of the handler is imported and stops once its clients are built;
interpreter startup is outside it. Nothing but ``sys`` and ``time`` (both built in) is imported before
the clock starts, so what the handler imports is counted, and the standard library it needs too.
It prints one JSON line: the times in milliseconds and where the key modules were imported from.
"""

import sys
import time

START = time.perf_counter()


def build_client(service: str) -> object:
    """The client the controller builds for ``service`` on a function's first invocation."""
    if service == "dynamodb":  # the ledger's table, as ``cutover.ledger.store()`` makes it
        from cutover.ledger import default_store

        return default_store()
    if service == "secretsmanager":  # what ``parameters.get_secret`` makes on its first call
        from aws_lambda_powertools.utilities import parameters

        return parameters.SecretsProvider()
    from cutover import aws

    return aws.client(service)


def main() -> None:
    handler, paths, services = sys.argv[1:4]
    sys.path[:0] = [p for p in paths.split(":") if p]
    names = [s for s in services.split(",") if s]
    if handler == "-":
        import boto3

        imported = time.perf_counter()
        for name in names:
            boto3.client(name)  # type: ignore[call-overload]
    else:
        module, _, attribute = handler.rpartition(".")
        __import__(module)
        getattr(sys.modules[module], attribute)
        imported = time.perf_counter()
        for name in names:
            build_client(name)
    done = time.perf_counter()

    import json

    watched = (handler.rpartition(".")[0] or "boto3", "cutover", "boto3", "pydantic_core", "aws_xray_sdk")
    origins = {name: getattr(sys.modules.get(name), "__file__", None) for name in watched}
    figures = {
        "total_ms": (done - START) * 1000,
        "import_ms": (imported - START) * 1000,
        "clients_ms": (done - imported) * 1000,
        "modules": len(sys.modules),
        "origins": origins,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
