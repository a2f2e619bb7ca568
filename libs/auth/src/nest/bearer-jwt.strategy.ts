import type { Principal } from '@agentplane/domain';
import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import passport from 'passport';
import { Strategy } from 'passport-http-bearer';
import type { TokenVerifier } from '../verifier.js';
import { BEARER_JWT, TOKEN_VERIFIER } from './tokens.js';

// One passport instance per strategy, not the global one: two apps in one process (tests, the
// e2e harness) would otherwise overwrite each other's `bearer-jwt` registration and config.
type Authenticator = InstanceType<typeof passport.Passport>;
const instances = new WeakMap<object, Authenticator>();

/** passport-http-bearer strategy whose verify step is the TokenVerifier. */
@Injectable()
export class BearerJwtStrategy extends PassportStrategy(Strategy, BEARER_JWT) {
  constructor(@Inject(TOKEN_VERIFIER) private readonly verifier: TokenVerifier) {
    super();
  }

  /** Called by the PassportStrategy mixin while registering this strategy. */
  getPassportInstance(): Authenticator {
    let instance = instances.get(this);
    if (!instance) {
      instance = new passport.Passport();
      instances.set(this, instance);
    }
    return instance;
  }

  validate(token: string): Promise<Principal> {
    return this.verifier.verify(token);
  }
}
