//! The learning API: users, uploads, videos, marks, notes (built in the API issue).
