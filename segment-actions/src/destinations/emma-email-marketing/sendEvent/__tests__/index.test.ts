import nock from 'nock'
import { createTestEvent, createTestIntegration, SegmentEvent } from '@segment/actions-core'
import Definition from '../../index'
import sendEvent from '../index'
import { bodiesWithin, MAX_BATCH_BODY_BYTES, MAX_BATCH_EVENTS } from '../../api'

let testDestination = createTestIntegration(Definition)
const endpoint = 'https://events.e2ma.net'
const settings = { apiKey: 'test-api-key' }
// base64("test-api-key:")
const authorization = 'Basic dGVzdC1hcGkta2V5Og=='

function errorOf(promise: Promise<unknown>): Promise<{ status?: number; name?: string; message: string }> {
  return promise.then(
    () => {
      throw new Error('expected a failure')
    },
    (error) => error
  )
}

describe('Emma Email Marketing (Actions).sendEvent', () => {
  beforeEach(() => {
    // A failed testAction leaves its responses behind for the next one.
    testDestination = createTestIntegration(Definition)
  })

  describe('sendEvent', () => {
    it('posts the whole event to /v1/segment with the API key', async () => {
      const event = createTestEvent({ type: 'identify', userId: 'u-1001', traits: { email: 'peter@example.com' } })
      nock(endpoint, { reqheaders: { authorization, 'content-type': 'application/json' } })
        .post('/v1/segment', JSON.parse(JSON.stringify(event)) as nock.DataMatcherMap)
        .reply(200, { messageId: event.messageId })

      const responses = await testDestination.testAction('sendEvent', { event, settings, useDefaultMappings: true })

      expect(responses).toHaveLength(1)
      expect(responses[0].status).toBe(200)
      expect(responses[0].request.headers.get('x-segment-settings')).toBeNull()
    })

    it.each([
      [400, 'InvalidRequest'],
      [413, 'PayloadTooLarge'],
      [415, 'UnsupportedMediaType'],
      [501, 'NotImplemented'],
      [403, 'Forbidden'],
      [429, 'TooManyRequests'],
      [500, 'InternalError'],
      [503, 'ServiceUnavailable']
    ])('fails with the status of an answer %i and Emma’s message', async (status: number) => {
      nock(endpoint).post('/v1/segment').reply(status, { message: 'what Emma says about it' })

      const error = await errorOf(
        testDestination.testAction('sendEvent', { event: createTestEvent(), settings, useDefaultMappings: true })
      )

      // Segment retries 408, 423, 429 and 5xx other than 501, and drops the rest.
      expect(error.status).toBe(status)
      expect(error.message).toBe(`Emma answered ${status}: what Emma says about it`)
    })

    it('fails with an authentication error when Emma does not know the key', async () => {
      nock(endpoint).post('/v1/segment').reply(401, { message: 'Unauthorized' })

      const error = await errorOf(
        testDestination.testAction('sendEvent', { event: createTestEvent(), settings, useDefaultMappings: true })
      )

      expect(error.name).toBe('InvalidAuthenticationError')
      expect(error.status).toBe(401)
    })
  })

  describe('sendEvent in batches', () => {
    const events: SegmentEvent[] = [
      createTestEvent({ type: 'track', event: 'Signed Up', messageId: 'm-0' }),
      createTestEvent({ type: 'identify', messageId: 'm-1' }),
      createTestEvent({ type: 'page', messageId: 'm-2' })
    ]

    it('posts the events to /v1/batch and reports each one', async () => {
      let body: unknown
      nock(endpoint, { reqheaders: { authorization, 'content-type': 'application/json' } })
        .post('/v1/batch', (sent) => {
          body = sent
          return true
        })
        .reply(200, {
          accepted: 2,
          rejected: [{ index: 1, messageId: 'm-1', status: 400, message: 'identify needs a userId or anonymousId' }]
        })

      const responses = await testDestination.testBatchAction('sendEvent', {
        events,
        settings,
        useDefaultMappings: true
      })

      expect(responses).toHaveLength(1)
      expect(body).toEqual({ batch: JSON.parse(JSON.stringify(events)) })
      const statuses = testDestination.results[0].multistatus
      expect(statuses?.map((status) => status.status)).toEqual([200, 400, 200])
      expect(statuses?.[1]).toMatchObject({
        errormessage: 'identify needs a userId or anonymousId',
        errortype: 'BAD_REQUEST'
      })
    })

    it.each([429, 500, 503, 413, 401])(
      'gives every event the status of a batch answered %i',
      async (status: number) => {
        nock(endpoint).post('/v1/batch').reply(status, { message: 'not now' })

        await testDestination.testBatchAction('sendEvent', { events, settings, useDefaultMappings: true })

        const statuses = testDestination.results[0].multistatus
        expect(statuses?.map((outcome) => outcome.status)).toEqual([status, status, status])
        expect(statuses?.[0]).toMatchObject({ errormessage: `Emma answered ${status}: not now` })
      }
    )

    it('ignores rejected entries that name no event of the batch, or no failure', async () => {
      nock(endpoint)
        .post('/v1/batch')
        .reply(200, {
          accepted: 3,
          rejected: [{ index: 3, status: 400 }, { index: -1, status: 400 }, { status: 400 }, { index: 0, status: 200 }]
        })

      await testDestination.testBatchAction('sendEvent', { events, settings, useDefaultMappings: true })

      expect(testDestination.results[0].multistatus?.map((outcome) => outcome.status)).toEqual([200, 200, 200])
    })

    it('splits a batch larger than Emma accepts into requests it accepts', async () => {
      const padding = 'x'.repeat(100 * 1024)
      const large = [0, 1, 2, 3, 4, 5].map((index) =>
        createTestEvent({ type: 'track', event: 'Large', messageId: `large-${index}`, properties: { padding } })
      )
      const bodies: number[] = []
      nock(endpoint)
        .post('/v1/batch')
        .times(2)
        .reply(200, function (_uri, body) {
          bodies.push(Buffer.byteLength(JSON.stringify(body)))
          return { accepted: (body as { batch: unknown[] }).batch.length, rejected: [{ index: 0, status: 400 }] }
        })

      await testDestination.testBatchAction('sendEvent', { events: large, settings, useDefaultMappings: true })

      expect(bodies).toHaveLength(2)
      expect(Math.max(...bodies)).toBeLessThanOrEqual(MAX_BATCH_BODY_BYTES)
      // The second request's first event is the batch's fifth: its rejection lands there.
      const statuses = testDestination.results[0].multistatus?.map((outcome) => outcome.status)
      expect(statuses).toEqual([400, 200, 200, 200, 400, 200])
    })
  })

  describe('batch limits', () => {
    const fields = sendEvent.fields

    it('keep the largest batch Segment builds within one request', () => {
      const batchSize = fields.batch_size.default as number
      const batchBytes = fields.batch_bytes.default as number
      // batch_size events that add up to batch_bytes, as Segment counts them.
      const event = JSON.stringify({ padding: 'x'.repeat(Math.floor(batchBytes / batchSize) - 14) })
      const serialized = Array<string>(batchSize).fill(event)

      expect(serialized.join('').length).toBeLessThanOrEqual(batchBytes)
      expect(batchSize).toBeLessThanOrEqual(MAX_BATCH_EVENTS)
      expect(bodiesWithin(serialized, MAX_BATCH_BODY_BYTES, MAX_BATCH_EVENTS)).toEqual([[0, batchSize]])
    })

    it('count the body of a request to the byte', () => {
      const serialized = ['{"a":"é"}', '{"b":1}', '{"c":2}']
      const body = (events: string[]) => Buffer.byteLength(`{"batch":[${events.join(',')}]}`)

      expect(bodiesWithin(serialized, body(serialized), 10)).toEqual([[0, 3]])
      expect(bodiesWithin(serialized, body(serialized) - 1, 10)).toEqual([
        [0, 2],
        [2, 3]
      ])
      expect(bodiesWithin(serialized, 1, 10)).toEqual([
        [0, 1],
        [1, 2],
        [2, 3]
      ])
      expect(bodiesWithin(serialized, 10_000, 2)).toEqual([
        [0, 2],
        [2, 3]
      ])
      expect(bodiesWithin([], 10_000, 2)).toEqual([])
    })
  })
})
