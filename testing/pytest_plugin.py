"""pytest plugin shipped with tribeops (fixtures arrive with the plugin kit)."""
