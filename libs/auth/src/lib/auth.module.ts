import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { ApiKeyVerifier, AuthOptions } from './api-key-verifier';
import { WhoamiController } from './whoami.controller';
import { AuthGuard } from './auth.guard';

/**
 * Bearer-key authentication (docs/guarantees.md, "HTTP conventions"; G9). Needs the app's DataSource;
 * `outageCredentials`, a provider of OutageCredentials, keeps verified keys working while PostgreSQL is
 * unreachable.
 */
@Module({})
export class AuthModule {
  static forRoot(options: Partial<AuthOptions>, outageCredentials?: Provider): DynamicModule {
    return {
      module: AuthModule,
      global: true,
      controllers: [WhoamiController],
      providers: [
        { provide: AuthOptions, useValue: Object.assign(new AuthOptions(), options) },
        ApiKeyVerifier,
        AuthGuard,
        ...(outageCredentials ? [outageCredentials] : []),
      ],
      exports: [ApiKeyVerifier, AuthGuard],
    };
  }
}
