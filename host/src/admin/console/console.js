// The console page; see docs/console.md.
