import { Module } from '@nestjs/common';
import { ChangeSetStore } from './change-set-store';
import { WRITE_HOOKS, type WriteHooks } from './write-hooks';
import { WriteStore } from './write-store';

const noHooks: WriteHooks = {};

@Module({
  providers: [WriteStore, ChangeSetStore, { provide: WRITE_HOOKS, useValue: noHooks }],
  exports: [WriteStore, ChangeSetStore, WRITE_HOOKS],
})
export class StoreModule {}
