package db_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

func TestColumn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Migrate(ctx, []db.Source{migrations(2)}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			id   int64
			name string
		}{{3, "丙"}, {1, "甲"}, {2, "乙"}} {
			if _, err := d.Exec(ctx, "INSERT INTO demo_a (id, name) VALUES (?, ?)", r.id, r.name); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Exec(ctx, "INSERT INTO demo_b (x) VALUES (?), (NULL)", "v"); err != nil {
			t.Fatal(err)
		}

		ids, err := db.Column[int64](ctx, d, "SELECT id FROM demo_a ORDER BY id")
		if err != nil || !slices.Equal(ids, []int64{1, 2, 3}) {
			t.Errorf("ids = %v, %v; want [1 2 3]", ids, err)
		}
		names, err := db.Column[string](ctx, d, "SELECT name FROM demo_a WHERE id >= ? ORDER BY id DESC", 2)
		if err != nil || !slices.Equal(names, []string{"丙", "乙"}) {
			t.Errorf("names = %q, %v; want [丙 乙]", names, err)
		}
		xs, err := db.Column[sql.NullString](ctx, d, "SELECT x FROM demo_b ORDER BY id")
		if err != nil || !slices.Equal(xs, []sql.NullString{{String: "v", Valid: true}, {}}) {
			t.Errorf("nullable column = %v, %v", xs, err)
		}
		none, err := db.Column[int64](ctx, d, "SELECT id FROM demo_a WHERE id > ?", 100)
		if err != nil || none != nil {
			t.Errorf("no rows = %#v, %v; want nil, nil", none, err)
		}

		// A row that does not scan fails the whole call: no partial list.
		if got, err := db.Column[string](ctx, d, "SELECT x FROM demo_b ORDER BY id"); err == nil || got != nil {
			t.Errorf("NULL into string = %q, %v; want an error and no values", got, err)
		}
		if got, err := db.Column[int64](ctx, d, "SELECT id, name FROM demo_a"); err == nil || got != nil {
			t.Errorf("two columns = %v, %v; want an error", got, err)
		}
		if _, err := db.Column[int64](ctx, d, "SELECT id FROM no_such_table"); err == nil {
			t.Error("a query on a missing table gave no error")
		}

		// In a write transaction the rows are closed on return: the next
		// statement runs on the same (on SQLite, the only) connection.
		err = d.InTx(ctx, func(tx *db.Tx) error {
			ids, err := db.Column[int64](ctx, tx, "SELECT id FROM demo_a WHERE id < ? ORDER BY id", 3)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := tx.Exec(ctx, "UPDATE demo_a SET name = name || '+' WHERE id = ?", id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("column then update in one transaction: %v", err)
		}
		names, err = db.Column[string](ctx, d, "SELECT name FROM demo_a ORDER BY id")
		if err != nil || !slices.Equal(names, []string{"甲+", "乙+", "丙"}) {
			t.Errorf("after the transaction: %q, %v", names, err)
		}
	})
}
