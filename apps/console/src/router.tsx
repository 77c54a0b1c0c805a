import { createRootRoute, createRoute, createRouter, redirect } from '@tanstack/react-router';
import { Layout } from './layout';
import { RoutesPage, routesSearch } from './pages/routes';
import { RoutePage } from './pages/route';
import { HistoryPage, historySearch } from './pages/history';
import { ChangeSetsPage, ChangeSetPage } from './pages/change-set';
import { RevisionsPage, RevisionPage } from './pages/propagation';
import { AuditPage, auditSearch } from './pages/audit';
import { KeysPage } from './pages/keys';
import { NotFoundPage } from './pages/not-found';

/**
 * The console's pages (under /console/). Paths carry only names and revisions: the key is never in a URL.
 */
const root = createRootRoute({ component: Layout, notFoundComponent: NotFoundPage });

const index = createRoute({
  getParentRoute: () => root,
  path: '/',
  beforeLoad: () => {
    throw redirect({ to: '/routes' });
  },
});
const routes = createRoute({ getParentRoute: () => root, path: '/routes', validateSearch: routesSearch, component: RoutesPage });
const route = createRoute({ getParentRoute: () => root, path: '/routes/$tenant/$service/$environment', component: RoutePage });
const history = createRoute({
  getParentRoute: () => root,
  path: '/routes/$tenant/$service/$environment/history',
  validateSearch: historySearch,
  component: HistoryPage,
});
const changeSets = createRoute({ getParentRoute: () => root, path: '/changes', component: ChangeSetsPage });
const changeSet = createRoute({ getParentRoute: () => root, path: '/changes/$revision', component: ChangeSetPage });
const revisions = createRoute({ getParentRoute: () => root, path: '/revisions', component: RevisionsPage });
const revision = createRoute({ getParentRoute: () => root, path: '/revisions/$revision', component: RevisionPage });
const audit = createRoute({ getParentRoute: () => root, path: '/audit', validateSearch: auditSearch, component: AuditPage });
const keys = createRoute({ getParentRoute: () => root, path: '/keys', component: KeysPage });

const routeTree = root.addChildren([index, routes, route, history, changeSets, changeSet, revisions, revision, audit, keys]);

export const router = createRouter({ routeTree, basepath: '/console', defaultPreload: false, scrollRestoration: true });

declare module '@tanstack/react-router' {
  interface Register {
    router: typeof router;
  }
}
