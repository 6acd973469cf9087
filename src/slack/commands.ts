// What `/baton <text>` asks for, as a discriminated union. Pure and syntactic: whether the
// service, environment or release exists, and whether the person may, is decided later
// against config and the workflows. A bad command names the problem and shows the usage.

export type SlashCommand =
  | { kind: 'status'; service: string; environment: string }
  | { kind: 'deploy'; service: string; version: string; environment: string }
  | { kind: 'rollback'; service: string; environment: string }
  | { kind: 'approve'; release: string; comment?: string }
  | { kind: 'help' }
  | { kind: 'invalid'; message: string };

export const USAGE = [
  'Usage:',
  '• `/baton status <service> <environment>`: the running or latest deployment',
  '• `/baton deploy <service> <version> <environment>`: start a blue/green deployment',
  '• `/baton rollback <service> <environment>`: roll back the running deployment',
  '• `/baton approve <release> [comment]`: approve the gate open now (e.g. `release:web:1.4.2`)',
  '• `/baton help`: this text',
].join('\n');

/** The words each command takes, for the messages that say what is missing. */
const SHAPES = {
  status: ['service', 'environment'],
  deploy: ['service', 'version', 'environment'],
  rollback: ['service', 'environment'],
} as const;

/** One word of a command: no spaces, no Slack markup, not absurdly long. */
const WORD = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;

export function parseCommand(text: string): SlashCommand {
  const [verb = '', ...args] = text.trim().split(/\s+/).filter(Boolean);
  const kind = verb.toLowerCase();
  switch (kind) {
    case '':
    case 'help':
      return { kind: 'help' };
    case 'status':
    case 'rollback': {
      const words = exactly(kind, args);
      if (typeof words === 'string') return invalid(words);
      const [service, environment] = words;
      return { kind, service, environment };
    }
    case 'deploy': {
      const words = exactly(kind, args);
      if (typeof words === 'string') return invalid(words);
      const [service, version, environment] = words;
      return { kind, service, version, environment };
    }
    case 'approve': {
      const [release, ...rest] = args;
      if (!release) return invalid('approve needs a release id, e.g. `/baton approve release:web:1.4.2`');
      if (!WORD.test(release)) return invalid(`'${release}' is not a release id (ids look like release:<service>:<version>)`);
      const comment = unescapeSlack(rest.join(' ')).trim();
      return comment ? { kind, release, comment } : { kind, release };
    }
    default:
      return invalid(`unknown command '${verb}'`);
  }
}

/** The arguments of a fixed-arity command, or what is wrong with them. */
function exactly(kind: keyof typeof SHAPES, args: string[]): string[] | string {
  const shape = SHAPES[kind];
  const expected = `${kind} ${shape.map((w) => `<${w}>`).join(' ')}`;
  if (args.length < shape.length) {
    return `${kind} is missing ${shape.slice(args.length).map((w) => `<${w}>`).join(' ')} (it takes \`${expected}\`)`;
  }
  if (args.length > shape.length) {
    return `${kind} takes ${shape.length} words (\`${expected}\`), not ${args.length}: '${args.slice(shape.length).join(' ')}' is extra`;
  }
  const bad = args.findIndex((a) => !WORD.test(a));
  if (bad >= 0) return `'${args[bad]}' is not a valid ${shape[bad]}`;
  return args;
}

function invalid(problem: string): SlashCommand {
  return { kind: 'invalid', message: `${problem}\n${USAGE}` };
}

/** Slack escapes &, < and > in command text. */
function unescapeSlack(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
