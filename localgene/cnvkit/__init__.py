"""cnvkit: see docs/architecture.md."""
