import { isUniqueViolation, sqlStateOf } from './transaction.js';

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
