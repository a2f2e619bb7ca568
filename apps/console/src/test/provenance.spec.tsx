import { describe, expect, it } from 'vitest';
import { validateProvenanceSearch } from '../routes/provenance.js';

describe('provenance search', () => {
  it('keeps a trimmed output id from the URL', () => {
    expect(validateProvenanceSearch({ output: '  8cf5f34c-fe1e-50f6-bbff-049a40ffe997 ' })).toEqual({ output: '8cf5f34c-fe1e-50f6-bbff-049a40ffe997' });
  });

  it('drops an empty or non-string output', () => {
    expect(validateProvenanceSearch({ output: '   ' })).toEqual({ output: undefined });
    expect(validateProvenanceSearch({ output: 42 })).toEqual({ output: undefined });
    expect(validateProvenanceSearch({})).toEqual({ output: undefined });
  });
});
