import { Module } from '@nestjs/common';
import { PropagationModule } from '../propagation/propagation.module';
import { StoreModule } from '../store/store.module';
import { RoutesController } from './routes.controller';
import { RoutesService } from './routes.service';

@Module({
  imports: [StoreModule, PropagationModule],
  controllers: [RoutesController],
  providers: [RoutesService],
})
export class RoutesModule {}
