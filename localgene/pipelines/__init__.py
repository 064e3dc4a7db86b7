"""The pipeline jobs (POST /gene/jobs): per job type, what a body's fields mean here."""
