// Generated file. DO NOT MODIFY IT BY HAND.

export interface Payload {
  /**
   * The Segment event, as Segment received it. Emma reads the fields of the Segment Spec.
   */
  data: {
    [k: string]: unknown
  }
  /**
   * Send events to Emma in batches: fewer requests, at the cost of up to a minute of delay.
   */
  enable_batching?: boolean
  /**
   * The most events in one batch.
   */
  batch_size?: number
  /**
   * The most bytes of events in one batch: Emma accepts batches of up to 500 KiB.
   */
  batch_bytes?: number
}
