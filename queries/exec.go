package queries

// Exec is the body of a pgbackrest query: a command whose JSON output becomes rows.
type Exec struct {
	Args []string `yaml:"args"`
}

func (e *Exec) validate() []string {
	return nil
}
