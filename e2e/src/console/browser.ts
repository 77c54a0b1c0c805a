import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import AxeBuilder from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { createApiKey, TEST_ADMIN_TOKEN, TestStack } from '@tm/testing';
import { ROOT } from '../tools';

/** Debian's chromium (`npm test` installs it when missing); TM_TEST_CHROMIUM names another. */
export const CHROMIUM = process.env['TM_TEST_CHROMIUM'] ?? '/usr/bin/chromium';

/** Screenshots of every page, light and dark (git-ignored). */
export const SCREENSHOTS = join(ROOT, 'e2e', 'screenshots', 'console');

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

const CLI = join(ROOT, 'dist', 'libs', 'cli', 'cli.js');

/** The `tm` CLI as users run it (the built package), against a stack, with a key. */
export async function tm(stack: TestStack, key: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env: { ...process.env, TM_COMMAND_URL: stack.app('command-api').url, TM_RESOLVER_URL: stack.app('resolver').url, TM_API_KEY: key },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** What a browser test runs against: the whole system, the console's URL, and the browser. */
export interface ConsoleSystem {
  stack: TestStack;
  consoleUrl: string;
  browser: Browser;
  /** Closes the browser, then stops the stack (its probers with it). */
  stop(): Promise<void>;
}

/** The whole system as processes (two probers included) with the console served by the command API, and a browser. */
export async function consoleSystem(): Promise<ConsoleSystem> {
  const stack = await TestStack.start();
  try {
    await stack.startProbers(2, () => ({ PROBE_MAX_TIMEOUT_SECONDS: '1' }));
    const browser = await launchBrowser();
    const stop = async () => {
      await browser.close();
      await stack.stop();
    };
    return { stack, consoleUrl: stack.consoleUrl, browser, stop };
  } catch (e) {
    await stack.stop();
    throw e;
  }
}

/** An admin-made key for a test. */
export function keyFor(stack: TestStack, body: { name: string; scopes: string[]; tenant?: string }): Promise<string> {
  return createApiKey(stack.app('command-api').url, body);
}

export { TEST_ADMIN_TOKEN };

/** A request through the command API with the admin token (setting things up, not what is tested). */
export async function admin(stack: TestStack, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(`${stack.app('command-api').url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined, headers: res.headers };
}

/**
 * One browser tab on the console: records every console error and page error (a page must log none),
 * checks accessibility with axe-core, and saves screenshots light and dark.
 */
export class ConsoleTab {
  readonly errors: string[] = [];
  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
    readonly consoleUrl: string,
  ) {
    page.on('console', (message: ConsoleMessage) => {
      if (message.type() === 'error') this.errors.push(`${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => this.errors.push(`page error: ${error.message}`));
  }

  static async open(browser: Browser, consoleUrl: string): Promise<ConsoleTab> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    return new ConsoleTab(context, page, consoleUrl);
  }

  /** Opens a console path (`routes`, `keys`, ...). */
  async goto(path = ''): Promise<void> {
    await this.page.goto(`${this.consoleUrl}${path}`);
  }

  async signIn(key: string): Promise<void> {
    await this.goto();
    await this.page.getByLabel('API key').fill(key);
    await this.page.getByRole('button', { name: 'Sign in' }).click();
    await this.page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  /**
   * The console errors so far, without the browser's own line for an HTTP error answer the test
   * expects (Chrome logs "Failed to load resource: ... status of 412" for every such fetch).
   */
  consoleErrors(expectedStatuses: number[] = []): string[] {
    return this.errors.filter((line) => !expectedStatuses.some((status) => line.includes(`the server responded with a status of ${status}`)));
  }

  /** axe-core's serious and critical violations on the page as it is now. */
  async accessibilityViolations(): Promise<string[]> {
    const result = await new AxeBuilder({ page: this.page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
  }

  /** Saves the page light and dark as `<name>-light.png` and `<name>-dark.png`; returns both paths. */
  async screenshots(name: string): Promise<string[]> {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const paths: string[] = [];
    for (const scheme of ['light', 'dark'] as const) {
      await this.page.emulateMedia({ colorScheme: scheme });
      const path = join(SCREENSHOTS, `${name}-${scheme}.png`);
      await this.page.screenshot({ path, fullPage: true });
      paths.push(path);
    }
    await this.page.emulateMedia({ colorScheme: 'light' });
    return paths;
  }

  /** Accessibility (light and dark: contrast differs) and screenshots of the page as it is now. */
  async checkPage(name: string): Promise<void> {
    const violations: string[] = [];
    for (const scheme of ['light', 'dark'] as const) {
      await this.page.emulateMedia({ colorScheme: scheme });
      violations.push(...(await this.accessibilityViolations()).map((v) => `${scheme}: ${v}`));
    }
    await this.page.emulateMedia({ colorScheme: 'light' });
    expect({ page: name, violations }).toEqual({ page: name, violations: [] });
    await this.screenshots(name);
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}
