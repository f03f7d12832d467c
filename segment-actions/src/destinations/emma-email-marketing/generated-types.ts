// Generated file. DO NOT MODIFY IT BY HAND.

export interface Settings {
  /**
   * The Emma API key of the account that receives the events.
   */
  apiKey: string
  /**
   * Where Emma receives Segment events. Change it only if Emma support asks you to.
   */
  endpoint?: string
}
