import nock from 'nock'
import { createTestEvent, createTestIntegration, defaultValues } from '@segment/actions-core'
import Definition from '../index'
import sendEvent from '../sendEvent'

let testDestination = createTestIntegration(Definition)
const endpoint = 'https://events.e2ma.net'
const settings = { apiKey: 'test-api-key' }
// base64("test-api-key:")
const authorization = 'Basic dGVzdC1hcGkta2V5Og=='

describe('Emma Email Marketing (Actions)', () => {
  beforeEach(() => {
    // A failed testAction leaves its responses behind for the next one.
    testDestination = createTestIntegration(Definition)
  })

  describe('testAuthentication', () => {
    it('asks /v1/me who the key belongs to', async () => {
      nock(endpoint, { reqheaders: { authorization } }).get('/v1/me').reply(200, { accountId: '1001' })

      await expect(testDestination.testAuthentication(settings)).resolves.not.toThrow()
    })

    it.each([
      [401, 'unknown API key'],
      [403, 'this API key is disabled']
    ])('refuses the settings when Emma answers %i', async (status: number, message: string) => {
      nock(endpoint).get('/v1/me').reply(status, { message })

      await expect(testDestination.testAuthentication(settings)).rejects.toThrow(`Credentials are invalid: ${status}`)
    })

    it('calls the endpoint of the settings', async () => {
      nock('http://127.0.0.1:8123').get('/v1/me').reply(200, { accountId: '1001' })

      await expect(
        testDestination.testAuthentication({ ...settings, endpoint: 'http://127.0.0.1:8123/' })
      ).resolves.not.toThrow()
    })
  })

  describe('presets', () => {
    it('send every type of event, whole, with one subscription', () => {
      expect(Definition.presets).toHaveLength(1)
      const [preset] = Definition.presets ?? []
      expect('subscribe' in preset && preset.subscribe).toBe(sendEvent.defaultSubscription)
      expect(preset.partnerAction).toBe('sendEvent')
      expect(preset.mapping).toEqual(defaultValues(sendEvent.fields))
    })
  })

  describe('onDelete', () => {
    it('sends a delete event for the user', async () => {
      nock(endpoint, { reqheaders: { authorization } })
        .post('/v1/segment', { type: 'delete', userId: 'u-1001' })
        .reply(200, { messageId: 'generated' })

      await expect(
        testDestination.onDelete?.(
          createTestEvent({ type: 'delete', userId: 'u-1001', anonymousId: undefined }),
          settings
        )
      ).resolves.not.toThrow()
    })

    it('fails when Emma does not take it', async () => {
      nock(endpoint).post('/v1/segment').times(3).reply(400, { message: 'delete needs a userId' })

      await expect(
        testDestination.onDelete?.(createTestEvent({ type: 'delete', userId: null, anonymousId: 'a-1' }), settings)
      ).rejects.toThrow('Emma answered 400: delete needs a userId')
    })
  })
})
