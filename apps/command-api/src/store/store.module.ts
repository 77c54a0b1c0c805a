import { Module } from '@nestjs/common';
import { WRITE_HOOKS, type WriteHooks } from './write-hooks';
import { WriteStore } from './write-store';

const noHooks: WriteHooks = {};

@Module({
  providers: [WriteStore, { provide: WRITE_HOOKS, useValue: noHooks }],
  exports: [WriteStore, WRITE_HOOKS],
})
export class StoreModule {}
