package main

func buildPgbackrest(w *wiring) error {
	for _, b := range w.cfg.Targets.Pgbackrest {
		w.skip(b.Name, "pgbackrest", "stanza "+b.Stanza)
	}
	return nil
}
