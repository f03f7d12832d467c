// Runs segment-actions/dist/index.js through actions-core's createTestIntegration, as Segment
// runs a destination, for tests/e2e/test_actions_destination.py.
//
// Standard input: a JSON list of calls, each {"call": "testAuthentication" | "testAction" |
// "testBatchAction" | "onDelete", "settings": {...}, "event"?: {...}, "events"?: [...]}.
// Standard output: a JSON list with each call's outcome, in order: {"ok": true, ...} or
// {"ok": false, "error": {"name", "status", "message"}}. Events are filled in by
// createTestEvent, as the destination's own unit tests do.
'use strict'

const fs = require('fs')
const path = require('path')
const { createRequire } = require('module')

const ACTIONS = path.resolve(__dirname, '..', '..', 'segment-actions')
const { createTestEvent, createTestIntegration } = createRequire(path.join(ACTIONS, 'package.json'))(
  '@segment/actions-core'
)
const definition = require(path.join(ACTIONS, 'dist', 'index.js')).default

async function run(destination, call) {
  const { settings } = call
  switch (call.call) {
    case 'testAuthentication':
      await destination.testAuthentication(settings)
      return {}
    case 'testAction': {
      const responses = await destination.testAction('sendEvent', {
        event: createTestEvent(call.event),
        settings,
        useDefaultMappings: true
      })
      return { responses: responses.map(answer) }
    }
    case 'testBatchAction': {
      const responses = await destination.testBatchAction('sendEvent', {
        events: call.events,
        settings,
        useDefaultMappings: true
      })
      const outcomes = destination.results[0].multistatus
      return {
        responses: responses.map(answer),
        multistatus: outcomes.map(({ status, errormessage }) => ({ status, errormessage }))
      }
    }
    case 'onDelete':
      return answer(await destination.onDelete(createTestEvent(call.event), settings))
    default:
      throw new Error(`unknown call ${call.call}`)
  }
}

function answer(response) {
  return { status: response.status, url: response.url, body: response.data }
}

async function main() {
  const calls = JSON.parse(fs.readFileSync(0, 'utf8'))
  const outcomes = []
  for (const call of calls) {
    // A fresh integration per call: a failed call leaves its responses behind.
    const destination = createTestIntegration(definition)
    try {
      outcomes.push({ ok: true, ...(await run(destination, call)) })
    } catch (error) {
      outcomes.push({ ok: false, error: { name: error.name, status: error.status, message: error.message } })
    }
  }
  process.stdout.write(JSON.stringify(outcomes))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
