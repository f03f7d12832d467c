import { DestinationDefinition, defaultValues } from '@segment/actions-core'
import type { Settings } from './generated-types'
import { DEFAULT_ENDPOINT, endpointUrl, throwForStatus } from './api'
import { EMMA_API_VERSION } from './versioning-info'

import sendEvent from './sendEvent'

const destination: DestinationDefinition<Settings> = {
  name: 'Emma Email Marketing (Actions)',
  slug: 'actions-emma-email-marketing',
  mode: 'cloud',
  description: 'Send the events of your Segment sources to Emma, for its contacts, lists and workflows.',

  authentication: {
    scheme: 'custom',
    fields: {
      apiKey: {
        label: 'API Key',
        description: 'The Emma API key of the account that receives the events.',
        type: 'password',
        required: true
      },
      endpoint: {
        label: 'Endpoint',
        description: 'Where Emma receives Segment events. Change it only if Emma support asks you to.',
        type: 'string',
        format: 'uri',
        required: false,
        default: DEFAULT_ENDPOINT
      }
    },
    testAuthentication: (request, { settings }) => {
      // 200 with the key's account, else 401 (an unknown key) or 403 (a disabled one).
      return request(endpointUrl(settings, `/${EMMA_API_VERSION}/me`), { method: 'GET' })
    }
  },

  extendRequest: ({ settings }) => {
    return {
      headers: { Authorization: 'Basic ' + Buffer.from(settings.apiKey + ':').toString('base64') },
      responseType: 'json'
    }
  },

  presets: [
    {
      // One subscription for every type, so that Segment batches events of all types together.
      name: 'Send Events',
      subscribe:
        'type = "identify" or type = "track" or type = "page" or type = "screen" or type = "group" or type = "alias"',
      partnerAction: 'sendEvent',
      mapping: defaultValues(sendEvent.fields),
      type: 'automatic'
    }
  ],

  actions: {
    sendEvent
  },

  onDelete: async (request, { settings, payload }) => {
    // Segment hands over the person's ids, not the event: Emma's delete topic gets a delete event for them.
    const response = await request(endpointUrl(settings, `/${EMMA_API_VERSION}/segment`), {
      method: 'POST',
      json: { type: 'delete', userId: payload.userId, anonymousId: payload.anonymousId },
      throwHttpErrors: false
    })
    throwForStatus(response)
    return response
  }
}

export default destination
