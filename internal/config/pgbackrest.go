package config

// Pgbackrest is a pgBackRest stanza, read with `pgbackrest info`.
type Pgbackrest struct {
	Name   string `yaml:"name"`
	Stanza string `yaml:"stanza"`
	Config string `yaml:"config"`
	// Command is the pgbackrest executable (default "pgbackrest" on PATH).
	Command string `yaml:"command"`
}

func (v *validator) pgbackrest(path []any, b *Pgbackrest) {
	v.name(path, "pgbackrest", b.Name)
	if b.Stanza == "" {
		v.errorf(path, "pgbackrest target %q needs a stanza", b.Name)
	}
	if b.Command == "" {
		b.Command = "pgbackrest"
	}
}
