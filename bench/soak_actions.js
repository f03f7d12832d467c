// The Actions destination (segment-actions/dist) as Segment runs it, for `make soak`: each batch
// through actions-core's createTestIntegration and the action's performBatch, as
// tests/e2e/actions_destination.js runs one, but many of them, several at a time, for as long
// as standard input stays open.
//
// Standard input: JSON lines, each {"id", "settings", "events": [...]}: one delivery of a batch.
// Standard output: a JSON line per delivery, in the order they finish: {"id", "statuses": [each
// event's status in the multistatus answer], "requests": [{"status", "seconds", "retryAfter"}],
// "refusals": [the message of each answer other than 2xx]},
// each HTTP request timed from its start to the whole answer read; or {"id", "error"}.
'use strict'

const diagnostics = require('diagnostics_channel')
const path = require('path')
const readline = require('readline')
const { AsyncLocalStorage } = require('async_hooks')
const { createRequire } = require('module')

const ACTIONS = path.resolve(__dirname, '..', 'segment-actions')
const { createTestIntegration } = createRequire(path.join(ACTIONS, 'package.json'))('@segment/actions-core')
const definition = require(path.join(ACTIONS, 'dist', 'index.js')).default

// The delivery each HTTP request belongs to: its list of timed requests.
const delivery = new AsyncLocalStorage()
const started = new WeakMap()

diagnostics.subscribe('http.client.request.start', ({ request }) => {
  const requests = delivery.getStore()
  if (requests) {
    started.set(request, { requests, at: process.hrtime.bigint() })
  }
})

diagnostics.subscribe('http.client.response.finish', ({ request, response }) => {
  const start = started.get(request)
  if (!start) {
    return
  }
  response.once('end', () => {
    start.requests.push({
      status: response.statusCode,
      seconds: Number(process.hrtime.bigint() - start.at) / 1e9,
      retryAfter: response.headers['retry-after'] ?? null
    })
  })
})

async function deliver({ id, settings, events }) {
  const requests = []
  try {
    // A fresh integration per delivery: its responses and results are its own.
    const destination = createTestIntegration(definition)
    const responses = await delivery.run(requests, () =>
      destination.testBatchAction('sendEvent', { events, settings, useDefaultMappings: true })
    )
    const statuses = destination.results[0].multistatus.map(({ status }) => status)
    const refusals = responses.filter(({ ok }) => !ok).map(({ data }) => data?.message ?? null)
    return { id, statuses, requests, refusals }
  } catch (error) {
    return { id, error: `${error.name}: ${error.message}`, requests }
  }
}

const input = readline.createInterface({ input: process.stdin })
input.on('line', (line) => {
  void deliver(JSON.parse(line)).then((outcome) => process.stdout.write(JSON.stringify(outcome) + '\n'))
})
