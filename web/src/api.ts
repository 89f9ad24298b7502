// The Lectern API client: JSON in and out, the signed-in session's tokens, one refresh on an
// expired access token, and every failure turned into an ApiError with words for people.
import { reactive } from 'vue';

export type Role = 'viewer' | 'creator' | 'admin';

export interface User {
  id: string;
  username: string;
  display_name: string;
  bio: string;
  role: Role;
  created_at: number;
  email?: string | null;
}

export interface Rendition {
  height: number;
  width: number;
  bitrate: number;
  peak_bitrate: number;
}

export interface Video {
  id: string;
  title: string;
  description: string;
  tags: string[];
  status: 'processing' | 'ready' | 'failed';
  progress: number;
  error?: string | null;
  visibility: 'public' | 'private';
  renditions: Rendition[];
  views: number;
  created_at: number;
  duration?: number | null;
  owner?: { id: string; username: string } | null;
  poster_url?: string | null;
  playback?: { hls: string; dash: string; expires_at: number } | null;
}

export interface VideoPage {
  items: Video[];
  total: number;
  page: number;
  per_page: number;
}

export interface Annotation {
  id: string;
  mark_id: string;
  content: string;
  created_at: number;
  updated_at: number;
}

export interface Mark {
  id: string;
  video_id: string;
  time: number;
  category: string;
  content: string;
  annotations: Annotation[];
  created_at: number;
  updated_at: number;
}

export interface Note {
  id: string;
  video_id: string;
  time?: number | null;
  content: string;
  created_at: number;
  updated_at: number;
}

export interface Comment {
  id: string;
  video_id: string;
  author: string;
  content: string;
  created_at: number;
}

interface SessionTokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  user: User;
}

/** A failed request, with a message fit to show. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string,
  ) {
    super(message);
  }
}

const STORAGE_KEY = 'lectern.session';

interface StoredSession {
  access: string;
  refresh: string;
  /** Epoch milliseconds when the access token stops working. */
  expiresAt: number;
  user: User;
}

function load(): StoredSession | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as StoredSession) : null;
  } catch {
    return null;
  }
}

/** The signed-in person (null when signed out) and why the last session ended, if it did. */
export const session = reactive<{ current: StoredSession | null; ended: boolean }>({
  current: load(),
  ended: false,
});

/** Called when a session cannot be renewed (the router sends the person to sign in). */
let onSessionEnded: () => void = () => {};
export function whenSessionEnds(callback: () => void) {
  onSessionEnded = callback;
}

function store(tokens: SessionTokens) {
  session.current = {
    access: tokens.access_token,
    refresh: tokens.refresh_token,
    expiresAt: Date.now() + tokens.expires_in * 1000,
    user: tokens.user,
  };
  session.ended = false;
  localStorage.setItem(STORAGE_KEY, JSON.stringify(session.current));
}

function clear() {
  session.current = null;
  localStorage.removeItem(STORAGE_KEY);
}

// Other tabs sign in and out too.
window.addEventListener('storage', (e) => {
  if (e.key === STORAGE_KEY) session.current = load();
});

let refreshing: Promise<boolean> | null = null;

/** Trades the refresh token for a new pair, once at a time; false if the session is over. */
function refresh(): Promise<boolean> {
  const current = session.current;
  if (!current) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      const response = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: current.refresh }),
      });
      if (!response.ok) {
        // Another tab may have refreshed already (the token we hold is spent).
        const stored = load();
        if (stored && stored.refresh !== current.refresh) {
          session.current = stored;
          return true;
        }
        clear();
        session.ended = true;
        onSessionEnded();
        return false;
      }
      store((await response.json()) as SessionTokens);
      return true;
    } catch {
      return true; // offline: keep the session, the request itself reports the network
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** A valid access token (renewed first when it is about to expire), or null when signed out. */
export async function accessToken(): Promise<string | null> {
  if (session.current && session.current.expiresAt - Date.now() < 30_000) await refresh();
  return session.current?.access ?? null;
}

async function errorOf(response: Response): Promise<ApiError> {
  try {
    const body = await response.json();
    if (body?.error?.message) {
      return new ApiError(response.status, body.error.code, body.error.message, body.error.field);
    }
  } catch {
    // not JSON
  }
  return new ApiError(response.status, 'http', `The server answered ${response.status} ${response.statusText}.`);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | undefined | null>;
}

/** Sends a request with the session's token; on 401 renews the token once and retries. */
export async function send(path: string, options: RequestOptions = {}): Promise<Response> {
  const url = new URL(`/api/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(options.query ?? {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const attempt = async () => {
    const token = await accessToken();
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      return await fetch(url, {
        method: options.method ?? 'GET',
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    } catch {
      throw new ApiError(0, 'network', 'Cannot reach the server: check your connection and try again.');
    }
  };
  let response = await attempt();
  if (response.status === 401 && session.current) {
    if (await refresh()) response = await attempt();
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** A JSON request; resolves to the parsed body (undefined for 204). */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export async function signIn(login: string, password: string): Promise<User> {
  const tokens = await api<SessionTokens>('/auth/login', {
    method: 'POST',
    body: { login, password },
  });
  store(tokens);
  return tokens.user;
}

export async function signUp(username: string, email: string, password: string): Promise<User> {
  await api<User>('/auth/register', { method: 'POST', body: { username, email, password } });
  return signIn(username, password);
}

export async function signOut() {
  const current = session.current;
  clear();
  if (current) {
    await fetch('/api/v1/auth/logout', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: current.refresh }),
    }).catch(() => {});
  }
}

/** Reads the signed-in user again (a role may have changed). */
export async function refreshUser() {
  if (!session.current) return;
  const user = await api<User>('/users/me');
  if (session.current) {
    session.current = { ...session.current, user };
    localStorage.setItem(STORAGE_KEY, JSON.stringify(session.current));
  }
}

/** A message for any thrown value. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Follows a server-sent event stream (fetch, so the Authorization header goes with it) and
 * calls `onEvent` with each event's name and data until the stream ends or `signal` aborts.
 */
export async function followEvents(
  path: string,
  onEvent: (name: string, data: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const token = await accessToken();
  const response = await fetch(`/api/v1${path}`, {
    headers: token ? { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } : {},
    signal,
  }).catch((e) => {
    if (signal.aborted) throw e;
    throw new ApiError(0, 'network', 'Lost the connection to the server while following progress.');
  });
  if (!response.ok || !response.body) throw await errorOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      let name = 'message';
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(name, data.join('\n'));
    }
  }
}

/** Downloads an API file (an export) with the session's token, under the server's file name. */
export async function download(path: string, query: Record<string, string>) {
  const response = await send(path, { query });
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? 'lectern-export';
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
