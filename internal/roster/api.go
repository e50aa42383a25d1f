package roster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"jnedu/internal/platform/apperr"
)

// The Go API for the indicators. These calls see the whole roster (no
// caller, no masking beyond what Person always does): the indicators
// apply their own rules (whose figures a person may see, the smallest
// group shown) before anything reaches a page. Withdrawn rows
// (tobedeleted) are never counted.

// Membership is a person's place: their school, and a class with the
// grade, school year, role and subject.
type Membership struct {
	PersonID   int64  `json:"person_id"`
	Kind       string `json:"kind"` // student or teacher
	OrgID      int64  `json:"org_id"`
	ClassID    int64  `json:"class_id"`
	ClassName  string `json:"class_name"`
	Grade      string `json:"grade"`
	GradeName  string `json:"grade_name"`
	SchoolYear string `json:"school_year"`
	Role       string `json:"role"` // student, head_teacher, teacher
	Subject    string `json:"subject,omitempty"`
}

const classCols = `c.id, c.source, c.sourced_id, c.org_id, c.org_path, c.name, c.grade, c.school_year, c.class_type, c.subject, c.updated_at,
	(SELECT COUNT(*) FROM roster_enrolments e JOIN roster_people p ON p.id = e.person_id
	 WHERE e.class_id = c.id AND e.role = 'student' AND e.status = 'active' AND p.status = 'active')`

func scanClass(sc interface{ Scan(...any) error }) (Class, error) {
	var c Class
	err := sc.Scan(&c.ID, &c.Source, &c.SourcedID, &c.OrgID, &c.orgPath, &c.Name, &c.Grade, &c.SchoolYear, &c.Type, &c.Subject, &c.UpdatedAt, &c.Students)
	c.GradeName = Grades.Label(c.Grade)
	return c, err
}

func (s *Service) queryClasses(ctx context.Context, where string, args ...any) ([]Class, error) {
	rows, err := s.db.Query(ctx, "SELECT "+classCols+" FROM roster_classes c WHERE c.status = 'active' AND "+where+
		" ORDER BY c.school_year DESC, c.grade, c.name, c.id LIMIT 2000", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Class{}
	for rows.Next() {
		c, err := scanClass(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ClassesOf lists the active classes of a school (every school year, the
// latest first).
func (s *Service) ClassesOf(ctx context.Context, schoolOrgID int64) ([]Class, error) {
	return s.queryClasses(ctx, "c.org_id = ?", schoolOrgID)
}

// StudentCount counts the active students of an organisation's subtree (a
// school, a district, the city), of one grade code or of all ("").
func (s *Service) StudentCount(ctx context.Context, orgID int64, grade string) (int, error) {
	o, err := s.dir.Org(ctx, orgID)
	if err != nil {
		return 0, err
	}
	q := "SELECT COUNT(*) FROM roster_people WHERE kind = 'student' AND status = 'active' AND org_path LIKE ?"
	args := []any{o.Path + "%"}
	if grade != "" {
		code, ok := Grades.Parse(grade)
		if !ok {
			return 0, apperr.Field("grade", "roster.err_grade")
		}
		q += " AND grade = ?"
		args = append(args, code)
	}
	var n int
	err = s.db.QueryRow(ctx, q, args...).Scan(&n)
	return n, err
}

const personCols = `id, kind, source, sourced_id, org_id, org_path, number, name, gender, birth_date, ethnicity, grade, id_masked, user_id, updated_at`

func scanPerson(sc interface{ Scan(...any) error }) (Person, error) {
	var p Person
	err := sc.Scan(&p.ID, &p.Kind, &p.Source, &p.SourcedID, &p.OrgID, &p.orgPath, &p.Number, &p.Name, &p.Gender, &p.BirthDate,
		&p.Ethnicity, &p.Grade, &p.IDMasked, &p.UserID, &p.UpdatedAt)
	p.GenderName = Genders.Label(p.Gender)
	p.EthnicityName = Ethnicities.Label(p.Ethnicity)
	return p, err
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.Wrap(apperr.NotFound, err, "err.not_found")
	}
	return err
}

// TeacherOfUser returns the teacher an identity user is (the most
// recently updated, should several sources hold them); not found when
// none.
func (s *Service) TeacherOfUser(ctx context.Context, userID int64) (Person, error) {
	if userID == 0 {
		return Person{}, apperr.New(apperr.NotFound, "err.not_found")
	}
	p, err := scanPerson(s.db.QueryRow(ctx, "SELECT "+personCols+" FROM roster_people WHERE kind = 'teacher' AND status = 'active' AND user_id = ? ORDER BY updated_at DESC, id DESC LIMIT 1", userID))
	return p, notFound(err)
}

// MembershipOf lists where an identity user is enrolled or teaches (active
// classes, the latest school year first); empty when the user is in no
// class.
func (s *Service) MembershipOf(ctx context.Context, userID int64) ([]Membership, error) {
	if userID == 0 {
		return []Membership{}, nil
	}
	return s.memberships(ctx, "p.user_id = ?", userID)
}

func (s *Service) memberships(ctx context.Context, where string, args ...any) ([]Membership, error) {
	rows, err := s.db.Query(ctx, `SELECT p.id, p.kind, c.org_id, c.id, c.name, c.grade, c.school_year, e.role, e.subject
		FROM roster_people p JOIN roster_enrolments e ON e.person_id = p.id JOIN roster_classes c ON c.id = e.class_id
		WHERE p.status = 'active' AND e.status = 'active' AND c.status = 'active' AND `+where+`
		ORDER BY c.school_year DESC, c.grade, c.name, e.role, e.subject LIMIT 500`, args...)
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	defer rows.Close()
	out := []Membership{}
	for rows.Next() {
		var m Membership
		if err := rows.Scan(&m.PersonID, &m.Kind, &m.OrgID, &m.ClassID, &m.ClassName, &m.Grade, &m.SchoolYear, &m.Role, &m.Subject); err != nil {
			return nil, err
		}
		m.GradeName = Grades.Label(m.Grade)
		out = append(out, m)
	}
	return out, rows.Err()
}
