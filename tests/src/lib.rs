//! Repository-wide checks and end-to-end tests live under `tests/tests/`.
