import { Injectable, type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { fromZodError } from './errors.js';
import { InvalidPayload } from './json-body.js';

/** Parses a payload with its contract schema; a bad payload is VALIDATION with the field paths. */
@Injectable()
export class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.infer<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown): z.infer<S> {
    if (value instanceof InvalidPayload) throw value.toError();
    // An empty message is `{}` (the deserializer's reading of no body); a JSON `null` is a payload, and not an object.
    const r = this.schema.safeParse(value === undefined ? {} : value);
    if (!r.success) throw fromZodError(r.error);
    return r.data;
  }
}

export function zodPipe<S extends z.ZodType>(schema: S): ZodPipe<S> {
  return new ZodPipe(schema);
}
