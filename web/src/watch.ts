// What the watch page's parts share: the video's marks and notes, the player's clock, and the
// requests the keyboard makes of the side panels.
import { reactive } from 'vue';
import type { Mark, Note } from './api';

export interface WatchState {
  videoId: string;
  duration: number;
  currentTime: number;
  marks: Mark[];
  notes: Note[];
  /** Categories hidden from the timeline and the list. */
  hidden: string[];
  /** Set by N: the notes panel opens a new note at this time. */
  noteRequest: { time: number; at: number } | null;
  /** Set by M: the mark just added (the marks panel shows it). */
  lastMark: string | null;
  seek: (seconds: number) => void;
}

export function newWatchState(videoId: string, seek: (seconds: number) => void): WatchState {
  return reactive({
    videoId,
    duration: 0,
    currentTime: 0,
    marks: [],
    notes: [],
    hidden: [],
    noteRequest: null,
    lastMark: null,
    seek,
  });
}

export const DEFAULT_CATEGORIES = ['key point', 'question', 'important', 'todo', 'review'];
