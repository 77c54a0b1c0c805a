import { Module } from '@nestjs/common';
import { PropagationModule } from '../propagation/propagation.module';
import { StoreModule } from '../store/store.module';
import { ChangesController } from './changes.controller';
import { ChangesService } from './changes.service';
import { HistoryService } from './history.service';
import { RouteHistoryController } from './route-history.controller';
import { UndoService } from './undo.service';

@Module({
  imports: [StoreModule, PropagationModule],
  controllers: [ChangesController, RouteHistoryController],
  providers: [ChangesService, HistoryService, UndoService],
  exports: [ChangesService],
})
export class ChangesModule {}
