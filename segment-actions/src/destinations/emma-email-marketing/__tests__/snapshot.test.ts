import { createTestEvent, createTestIntegration } from '@segment/actions-core'
import { generateTestData } from '../../../lib/test-data'
import destination from '../index'
import nock from 'nock'

const testDestination = createTestIntegration(destination)
const destinationSlug = 'actions-emma-email-marketing'

describe(`Testing snapshot for ${destinationSlug} destination:`, () => {
  for (const actionSlug in destination.actions) {
    for (const [fields, isRequiredOnly] of [
      ['required fields', true],
      ['all fields', false]
    ] as const) {
      it(`${actionSlug} action - ${fields}`, async () => {
        const seedName = `${destinationSlug}#${actionSlug}`
        const action = destination.actions[actionSlug]
        const [eventData, settingsData] = generateTestData(seedName, destination, action, isRequiredOnly)

        nock(/.*/).persist().get(/.*/).reply(200)
        nock(/.*/).persist().post(/.*/).reply(200)

        const event = createTestEvent({ properties: eventData })
        const responses = await testDestination.testAction(actionSlug, {
          event,
          mapping: event.properties,
          settings: settingsData
        })

        const request = responses[0].request
        expect(request.url).toMatchSnapshot()
        expect(request.headers).toMatchSnapshot()
        expect(JSON.parse(await request.text())).toMatchSnapshot()
      })
    }

    it(`${actionSlug} action - batch`, async () => {
      const seedName = `${destinationSlug}#${actionSlug}`
      const action = destination.actions[actionSlug]
      const [eventData, settingsData] = generateTestData(seedName, destination, action, false)

      nock(/.*/).persist().post(/.*/).reply(200, { accepted: 2, rejected: [] })

      const event = createTestEvent({ properties: eventData })
      const responses = await testDestination.testBatchAction(actionSlug, {
        events: [event, event],
        mapping: event.properties,
        settings: settingsData
      })

      const request = responses[0].request
      expect(request.url).toMatchSnapshot()
      expect(JSON.parse(await request.text())).toMatchSnapshot()
    })
  }
})
