import pg from 'pg';
import { isStatementError, isUniqueViolation, sqlStateOf } from './transaction.js';

describe('sqlStateOf', () => {
  it('reads pg errors', () => {
    expect(sqlStateOf(Object.assign(new Error('dup'), { code: '23505' }))).toBe('23505');
  });

  it('reads the database code behind a Prisma error, never Prisma\'s own P-code', () => {
    const raw = Object.assign(new Error('raw query failed'), {
      name: 'PrismaClientKnownRequestError',
      code: 'P2010',
      meta: { driverAdapterError: { cause: { originalCode: '40P01' } } },
    });
    expect(sqlStateOf(raw)).toBe('40P01');
    const noMeta = Object.assign(new Error('x'), { name: 'PrismaClientKnownRequestError', code: 'P2010' });
    expect(sqlStateOf(noMeta)).toBeUndefined();
  });

  it('sees a unique violation from Prisma (P2002) and from raw SQL (23505)', () => {
    expect(isUniqueViolation({ code: 'P2002' })).toBe(true);
    expect(isUniqueViolation({ name: 'PrismaClientKnownRequestError', code: 'P2010', meta: { driverAdapterError: { cause: { originalCode: '23505' } } } })).toBe(true);
    expect(isUniqueViolation({ name: 'PrismaClientKnownRequestError', code: 'P2010' })).toBe(false);
  });
});

describe('isStatementError', () => {
  const dbError = (code: string, severity = 'ERROR') => Object.assign(new pg.DatabaseError('boom', 1, 'error'), { code, severity });

  it('is an ERROR the server reported for a statement (nothing written, the connection stands)', () => {
    expect(isStatementError(dbError('23505'))).toBe(true);
    expect(isStatementError(dbError('40P01'))).toBe(true);
    expect(isStatementError(dbError('22P02'))).toBe(true);
  });

  it('is not a lost connection, a shutdown, a crash, a FATAL or a client-side error (a commit may have happened)', () => {
    expect(isStatementError(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(isStatementError(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBe(false);
    expect(isStatementError(dbError('57P01', 'FATAL'))).toBe(false);
    expect(isStatementError(dbError('57P01'))).toBe(false);
    expect(isStatementError(dbError('08006'))).toBe(false);
    expect(isStatementError(dbError('XX000'))).toBe(false);
    expect(isStatementError(dbError('23505', 'PANIC'))).toBe(false);
  });
});
