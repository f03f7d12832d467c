import nock from 'nock'

beforeEach(() => {
  nock.cleanAll()
})

beforeAll(() => {
  // Unit tests reach nothing but the mocks.
  nock.disableNetConnect()
  if (!nock.isActive()) {
    nock.activate()
  }
})

afterAll(() => {
  nock.restore()
  nock.enableNetConnect()
  nock.cleanAll()
})
