// Reads one request per line on stdin: {"id": ..., "simulation": <iam-simulate Simulation>}
// and answers one line per request on stdout: {"id": ..., "result": "Allowed" | "ExplicitlyDenied" |
// "ImplicitlyDenied" | "Error", "resource": the ARN judged, "errors": ...}. The Python side
// (cli/cutover_cli/engine/iam.py) keeps one such process per test process and asks it about every AWS
// call a function makes.
//
// An action that supports no resource-level permission (the Service Authorization Reference lists no
// resource type for it, e.g. states:SendTaskSuccess) is authorized on "*" by AWS: it is judged so here.
import { createInterface } from 'node:readline'
import { isWildcardOnlyAction, runSimulation } from '@cloud-copilot/iam-simulate'

async function judge(simulation) {
  const [service, action] = simulation.request.action.split(':')
  if (await isWildcardOnlyAction(service, action)) {
    simulation.request.resource.resource = '*'
  }
  const response = await runSimulation(simulation, {})
  const resource = simulation.request.resource.resource
  return response.resultType === 'error'
    ? { result: 'Error', resource, errors: response.errors }
    : { result: response.overallResult, resource }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (!line.trim()) continue
  let answer
  try {
    const { id, simulation } = JSON.parse(line)
    try {
      answer = { id, ...(await judge(simulation)) }
    } catch (err) {
      answer = { id, result: 'Error', errors: String(err) }
    }
  } catch (err) {
    answer = { id: null, result: 'Error', errors: `not JSON: ${err}` }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
