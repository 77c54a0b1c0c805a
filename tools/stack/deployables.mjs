// The deployables of deployables.json in the shapes npm start and the bench use.
import { readFileSync } from 'node:fs';

/**
 * @typedef {{ name: string, portVar: string, port: number, what: string, dns?: { portVar: string, port: number, servicePort: number, what: string } }} App
 * @typedef {App & { secondInstance?: { label: string, portVar: string, port: number, what: string } }} Deployable
 * @typedef {App & { label: string }} Prober
 */

/** Every deployable: { name, portVar, port, what, dns?, secondInstance? }. */
export const DEPLOYABLES = /** @type {{ deployables: Deployable[] }} */ (JSON.parse(readFileSync(new URL('./deployables.json', import.meta.url), 'utf8'))).deployables;

/**
 * The apps that start first: every deployable that runs once.
 * @type {App[]}
 */
export const APPS = DEPLOYABLES.filter((d) => d.secondInstance === undefined).map(({ name, portVar, port, what, dns }) => ({ name, portVar, port, what, ...(dns ? { dns } : {}) }));

/**
 * The health probers, each instance with its label and port variable: they start once the others
 * are ready (they need the resolver and a stored key); the second instance's port is handed to the
 * app in its own variable (HEALTH_PROBER_PORT).
 */
/** @type {Prober[]} */
export const PROBERS = DEPLOYABLES.flatMap(({ name, portVar, port, what, secondInstance }) =>
  secondInstance === undefined
    ? []
    : [
        { name, label: name, portVar, port, what },
        { name, label: secondInstance.label, portVar: secondInstance.portVar, port: secondInstance.port, what: secondInstance.what },
      ],
);
