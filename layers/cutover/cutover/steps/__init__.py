"""The workflow's steps, one module per Lambda: each reads the cutover document, calls its
adapters (Route 53, signals, the table), asks :mod:`cutover.policy` what happens next and
returns the document (:mod:`cutover.document`).

Every step is safe to retry: it re-reads before it writes, and UPSERTs the same weights.
"""
