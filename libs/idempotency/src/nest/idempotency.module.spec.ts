import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { nestLogger } from './idempotency.module.js';

describe('nestLogger: the core logger at the service log level', () => {
  afterEach(() => jest.restoreAllMocks());

  it('leaves out the levels that write nothing, so a keyed request builds no line for them', () => {
    for (const level of ['warn', 'error', 'fatal', 'silent']) {
      const l = nestLogger(level);
      expect([level, l.debug, l.info]).toEqual([level, undefined, undefined]);
      expect(typeof l.warn).toBe('function');
    }
    const info = nestLogger('info');
    expect(info.debug).toBeUndefined();
    expect(typeof info.info).toBe('function');
  });

  it('keeps every level at debug and trace, and when no level is given', () => {
    for (const level of ['debug', 'trace', undefined]) {
      const l = nestLogger(level);
      expect([level, typeof l.debug, typeof l.info, typeof l.warn]).toEqual([level, 'function', 'function', 'function']);
    }
  });

  it("writes through Nest's Logger under the Idempotency context", () => {
    const debug = jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const l = nestLogger('debug');
    l.debug?.({ subject: 's' }, 'idempotency key claimed');
    l.info?.({ subject: 's' }, 'idempotent replay');
    expect(debug).toHaveBeenCalledWith({ subject: 's' }, 'idempotency key claimed');
    expect(log).toHaveBeenCalledWith({ subject: 's' }, 'idempotent replay');
  });
});
