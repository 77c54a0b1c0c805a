import { Module, type DynamicModule } from '@nestjs/common';
import { ApiKeyVerifier, AuthOptions } from './api-key-verifier';
import { AuthGuard } from './auth.guard';

/** Bearer-key authentication (CONTRACT.md, "HTTP conventions"; G9). Needs the app's DataSource. */
@Module({})
export class AuthModule {
  static forRoot(options: Partial<AuthOptions>): DynamicModule {
    return {
      module: AuthModule,
      global: true,
      providers: [{ provide: AuthOptions, useValue: Object.assign(new AuthOptions(), options) }, ApiKeyVerifier, AuthGuard],
      exports: [ApiKeyVerifier, AuthGuard],
    };
  }
}
