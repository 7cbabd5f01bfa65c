"""The reload benchmark (bench/reload/run.py): corral vs HAProxy vs nginx under route changes."""
