import type { ActionDefinition } from '@segment/actions-core'
import type { Settings } from '../generated-types'
import type { Payload } from './generated-types'
import { endpointUrl, sendBatch, throwForStatus } from '../api'

const action: ActionDefinition<Settings, Payload> = {
  title: 'Send Event',
  description: 'Send the whole Segment event to Emma, which adds it to the account of the API key.',
  defaultSubscription:
    'type = "identify" or type = "track" or type = "page" or type = "screen" or type = "group" or type = "alias"',
  fields: {
    data: {
      label: 'Event',
      description: 'The Segment event, as Segment received it. Emma reads the fields of the Segment Spec.',
      type: 'object',
      required: true,
      default: { '@path': '$.' },
      unsafe_hidden: true
    },
    enable_batching: {
      label: 'Send in Batches',
      description: 'Send events to Emma in batches: fewer requests, at the cost of up to a minute of delay.',
      type: 'boolean',
      required: false,
      default: true
    },
    batch_size: {
      label: 'Batch Size',
      description: 'The most events in one batch.',
      type: 'number',
      required: false,
      default: 500,
      minimum: 1,
      maximum: 2500,
      unsafe_hidden: true
    },
    batch_bytes: {
      label: 'Batch Bytes',
      description: 'The most bytes of events in one batch: Emma accepts batches of up to 500 KiB.',
      type: 'number',
      required: false,
      default: 400000,
      unsafe_hidden: true
    }
  },
  perform: async (request, { settings, payload }) => {
    const response = await request(endpointUrl(settings, '/v1/segment'), {
      method: 'POST',
      json: payload.data,
      throwHttpErrors: false
    })
    throwForStatus(response)
    return response
  },
  performBatch: (request, { settings, payload }) => {
    return sendBatch(
      request,
      settings,
      payload.map(({ data }) => data)
    )
  }
}

export default action
