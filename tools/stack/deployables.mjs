// The deployables of deployables.json in the shapes npm start and the bench use.
import { readFileSync } from 'node:fs';

/** Every deployable: { name, portVar, port, what, secondInstance? }. */
export const DEPLOYABLES = JSON.parse(readFileSync(new URL('./deployables.json', import.meta.url), 'utf8')).deployables;

/** The apps that start first: every deployable that runs once. */
export const APPS = DEPLOYABLES.filter((d) => d.secondInstance === undefined).map(({ name, portVar, port, what }) => ({ name, portVar, port, what }));

/**
 * The health probers, each instance with its label and port variable: they start once the others
 * are ready (they need the resolver and a stored key); the second instance's port is handed to the
 * app in its own variable (HEALTH_PROBER_PORT).
 */
export const PROBERS = DEPLOYABLES.filter((d) => d.secondInstance !== undefined).flatMap(({ name, portVar, port, what, secondInstance }) => [
  { name, label: name, portVar, port, what },
  { name, label: secondInstance.label, portVar: secondInstance.portVar, port: secondInstance.port, what: secondInstance.what },
]);
