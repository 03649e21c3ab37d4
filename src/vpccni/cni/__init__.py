"""The CNI plugin shim and its wire protocol to ipamd (stdlib only: the plugin starts on every pod)."""
