package roster

import (
	"context"
	"sort"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
)

// Who sees what (the object checks behind PermView):
//   - a manager (platform or school administrator) everything in the
//     subtree of their grant;
//   - a teacher the classes they teach, with the students in them;
//   - a student themselves, and their class with its teachers (not the
//     classmates).
// Anything else answers "not found", whether or not it exists.

func errNotFound() error { return apperr.New(apperr.NotFound, "err.not_found") }

func manages(p *identity.Principal, orgPath string) bool {
	return p != nil && orgPath != "" && p.CanIn(PermManage, identity.Org{Path: orgPath})
}

// taughtClasses lists the ids of the active classes the caller teaches.
func (s *Service) taughtClasses(ctx context.Context, p *identity.Principal) (map[int64]bool, error) {
	out := map[int64]bool{}
	if p == nil {
		return out, nil
	}
	ms, err := s.memberships(ctx, "p.user_id = ? AND p.kind = 'teacher'", p.User.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		out[m.ClassID] = true
	}
	return out, nil
}

// Schools lists the schools the caller may look into, with counts.
func (s *Service) Schools(ctx context.Context, p *identity.Principal) ([]School, error) {
	ids := map[int64]bool{}
	if scope := p.Scope(PermManage); len(scope) > 0 {
		orgs, err := s.dir.Orgs(ctx, identity.OrgFilter{Under: scope, Kinds: []identity.OrgKind{identity.KindSchool}, Limit: 5000})
		if err != nil {
			return nil, err
		}
		for _, o := range orgs {
			ids[o.ID] = true
		}
	}
	ms, err := s.MembershipOf(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		ids[m.OrgID] = true
	}
	out := []School{}
	for id := range ids {
		o, err := s.dir.Org(ctx, id)
		if err != nil {
			continue
		}
		sc := School{OrgID: o.ID, Code: o.Code, Name: o.Name}
		if manages(p, o.Path) {
			err = s.db.QueryRow(ctx, `SELECT
				(SELECT COUNT(*) FROM roster_classes WHERE org_id = ? AND status = 'active'),
				(SELECT COUNT(*) FROM roster_people WHERE org_id = ? AND kind = 'student' AND status = 'active'),
				(SELECT COUNT(*) FROM roster_people WHERE org_id = ? AND kind = 'teacher' AND status = 'active')`, o.ID, o.ID, o.ID).
				Scan(&sc.Classes, &sc.Students, &sc.Teachers)
			if err != nil {
				return nil, err
			}
		}
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out, nil
}

// School returns a school and the classes of it the caller may see.
func (s *Service) School(ctx context.Context, p *identity.Principal, orgID int64) (identity.Org, []Class, error) {
	o, err := s.dir.Org(ctx, orgID)
	if err != nil || o.Kind != identity.KindSchool {
		return identity.Org{}, nil, errNotFound()
	}
	all, err := s.ClassesOf(ctx, orgID)
	if err != nil {
		return o, nil, err
	}
	if manages(p, o.Path) {
		return o, all, nil
	}
	ms, err := s.MembershipOf(ctx, p.User.ID)
	if err != nil {
		return o, nil, err
	}
	mine := map[int64]bool{}
	for _, m := range ms {
		mine[m.ClassID] = true
	}
	out := []Class{}
	for _, c := range all {
		if mine[c.ID] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return identity.Org{}, nil, errNotFound()
	}
	return o, out, nil
}

func (s *Service) class(ctx context.Context, id int64) (Class, error) {
	c, err := scanClass(s.db.QueryRow(ctx, "SELECT "+classCols+" FROM roster_classes c WHERE c.id = ? AND c.status = 'active'", id))
	return c, notFound(err)
}

// Class returns a class with its teachers, and its students when the
// caller may see them.
func (s *Service) Class(ctx context.Context, p *identity.Principal, id int64) (ClassDetail, error) {
	c, err := s.class(ctx, id)
	if err != nil {
		return ClassDetail{}, errNotFound()
	}
	d := ClassDetail{Class: c, Teachers: []ClassTeacher{}, Students: []Person{}}
	full := manages(p, c.orgPath)
	if !full {
		ms, err := s.MembershipOf(ctx, p.User.ID)
		if err != nil {
			return d, err
		}
		member := false
		for _, m := range ms {
			if m.ClassID == id {
				member = true
				full = full || m.Kind == KindTeacher
			}
		}
		if !member {
			return ClassDetail{}, errNotFound()
		}
	}
	if o, err := s.dir.Org(ctx, c.OrgID); err == nil {
		d.School = o.Name
	}
	rows, err := s.db.Query(ctx, "SELECT "+prefixed("p.", personCols)+`, e.role, e.subject FROM roster_enrolments e JOIN roster_people p ON p.id = e.person_id
		WHERE e.class_id = ? AND e.status = 'active' AND p.status = 'active' ORDER BY e.role, p.number, p.id LIMIT 5000`, id)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	for rows.Next() {
		var pr Person
		var role, subject string
		err := rows.Scan(&pr.ID, &pr.Kind, &pr.Source, &pr.SourcedID, &pr.OrgID, &pr.orgPath, &pr.Number, &pr.Name, &pr.Gender, &pr.BirthDate,
			&pr.Ethnicity, &pr.Grade, &pr.IDMasked, &pr.UserID, &pr.UpdatedAt, &role, &subject)
		if err != nil {
			return d, err
		}
		pr.GenderName, pr.EthnicityName = Genders.Label(pr.Gender), Ethnicities.Label(pr.Ethnicity)
		if role == RoleStudent {
			if full {
				d.Students = append(d.Students, pr)
			}
			continue
		}
		if !full {
			// Students see their teachers' names and subjects, nothing more.
			pr = Person{ID: pr.ID, Kind: pr.Kind, Name: pr.Name, OrgID: pr.OrgID}
		}
		d.Teachers = append(d.Teachers, ClassTeacher{Person: pr, Role: role, Subject: subject, SubjectName: Subjects.Label(subject)})
	}
	d.StudentsHidden = !full
	return d, rows.Err()
}

func prefixed(prefix, cols string) string {
	out := ""
	for i, c := range splitList(cols) {
		if i > 0 {
			out += ", "
		}
		out += prefix + c
	}
	return out
}

// Person returns a student or teacher with their classes, when the caller
// may see them: a manager of their school, the person themselves, or (for
// a student) a teacher of one of their classes.
func (s *Service) Person(ctx context.Context, p *identity.Principal, id int64) (PersonDetail, error) {
	pr, err := scanPerson(s.db.QueryRow(ctx, "SELECT "+personCols+" FROM roster_people WHERE id = ? AND status = 'active'", id))
	if err != nil {
		return PersonDetail{}, errNotFound()
	}
	ms, err := s.memberships(ctx, "p.id = ?", id)
	if err != nil {
		return PersonDetail{}, err
	}
	ok := manages(p, pr.orgPath) || (p != nil && pr.UserID != 0 && pr.UserID == p.User.ID)
	if !ok && pr.Kind == KindStudent {
		taught, err := s.taughtClasses(ctx, p)
		if err != nil {
			return PersonDetail{}, err
		}
		for _, m := range ms {
			ok = ok || taught[m.ClassID]
		}
	}
	if !ok {
		return PersonDetail{}, errNotFound()
	}
	d := PersonDetail{Person: pr, Classes: ms}
	if o, err := s.dir.Org(ctx, pr.OrgID); err == nil {
		d.School = o.Name
	}
	return d, nil
}

// Me lists the roster records of the caller (a student or teacher linked
// to their account).
func (s *Service) Me(ctx context.Context, p *identity.Principal) ([]Person, error) {
	if p == nil {
		return []Person{}, nil
	}
	rows, err := s.db.Query(ctx, "SELECT "+personCols+" FROM roster_people WHERE user_id = ? AND status = 'active' ORDER BY id LIMIT 10", p.User.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Person{}
	for rows.Next() {
		pr, err := scanPerson(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, pr)
	}
	return out, rows.Err()
}
