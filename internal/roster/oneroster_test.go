package roster

import (
	"context"
	"strings"
	"testing"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

const usersHeader = "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns,metadata.idNumber"

func userRow(sid, status, mod, username, given, family, identifier, grades, idNumber string) string {
	return strings.Join([]string{sid, status, mod, "true", username, "", given, family, "", identifier, "", "", "", "", grades, "", "", "", "", "", "org-1", "", idNumber}, ",")
}

func manifest(files map[string]string) string {
	lines := []string{"propertyName,value", "manifest.version,1.0", "oneroster.version,1.2"}
	for _, f := range []string{"academicSessions", "categories", "classes", "classResources", "courses", "courseResources", "demographics",
		"enrollments", "lineItems", "orgs", "resources", "results", "roles", "users"} {
		mode := files[f]
		if mode == "" {
			mode = "absent"
		}
		lines = append(lines, "file."+f+","+mode)
	}
	return strings.Join(lines, "\n") + "\n"
}

func bulkPackage(t *testing.T) []byte {
	return zipOf(t, map[string]string{
		"manifest.csv": manifest(map[string]string{"orgs": "bulk", "academicSessions": "bulk", "classes": "bulk", "users": "bulk",
			"roles": "bulk", "demographics": "bulk", "enrollments": "bulk"}),
		"orgs.csv": csvText("sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
			"org-d,,,济南市教育局,district,JN-EDU,", "org-1,,,济南第一中学,school,S-JN01,org-d"),
		"academicSessions.csv": csvText("sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear",
			"term-1,,,2025-2026学年第一学期,term,2025-09-01,2026-01-20,,2026"),
		"classes.csv": csvText("sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods",
			"cls-1,,,七年级1班,07,,,homeroom,,org-1,term-1,,,", "cls-2,,,七年级2班,07,,,homeroom,,org-1,term-1,,,",
			"cls-m,,,七年级数学A,07,,,scheduled,,org-1,term-1,数学,,"),
		"users.csv": csvText(usersHeader,
			userRow("u-s1", "", "", "student", "思远", "陈", "L101", "07", idZhang),
			userRow("u-s2", "", "", "", "小明", "刘", "L102", "07", ""),
			userRow("u-s3", "", "", "", "华", "孙", "L103", "07", ""),
			userRow("u-t1", "", "", "teacher", "晓梅", "张", "T101", "", ""),
			userRow("u-g1", "", "", "", "父", "陈", "", "", "")),
		"roles.csv": csvText("sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId",
			"r1,,,u-s1,primary,student,,,org-1,", "r2,,,u-s2,primary,student,,,org-1,", "r3,,,u-s3,primary,student,,,org-1,",
			"r4,,,u-t1,primary,teacher,,,org-1,", "r5,,,u-g1,primary,guardian,,,org-1,"),
		"demographics.csv": csvText("sourcedId,status,dateLastModified,birthDate,sex",
			"u-s2,,,2013-04-02,female", "u-s3,,,2013-05-03,male", "u-g1,,,1980-01-01,male"),
		"enrollments.csv": csvText("sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate",
			"e1,,,cls-1,org-1,u-s1,student,false,,", "e2,,,cls-1,org-1,u-s2,student,false,,", "e3,,,cls-2,org-1,u-s3,student,false,,",
			"e4,,,cls-1,org-1,u-t1,teacher,true,,", "e5,,,cls-m,org-1,u-t1,teacher,true,,", "e6,,,cls-1,org-1,u-g1,guardian,false,,"),
	})
}

// TestOneRosterBulkThenDelta: a bulk package creates the roster; a delta
// updates one student, withdraws another and one enrolment, and patches
// demographics; a second bulk users file withdraws whoever it leaves out.
// No row is ever duplicated.
func TestOneRosterBulkThenDelta(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		school := f.org["S-JN01"].ID
		rep := f.imp(t, "school_admin", bulkPackage(t), "roster.zip", ImportOptions{})
		if !rep.Applied || rep.Format != FormatOneRoster || rep.Source != "oneroster" {
			t.Fatalf("bulk: %+v", rep)
		}
		if rep.Classes.Created != 3 || rep.Students.Created != 3 || rep.Teachers.Created != 1 || rep.Enrolments.Created != 5 {
			t.Errorf("bulk counts: classes %+v students %+v teachers %+v enrolments %+v", rep.Classes, rep.Students, rep.Teachers, rep.Enrolments)
		}
		if rep.Skipped < 3 { // the district org, the guardian, its enrolment (and its demographics)
			t.Errorf("skipped %d rows", rep.Skipped)
		}
		c1 := f.classByName(t, "S-JN01", "七年级1班")
		if c1.Grade != "21" || c1.SchoolYear != "2025-2026" || c1.Students != 2 || c1.Type != "homeroom" {
			t.Errorf("class 1 = %+v", c1)
		}
		if cm := f.classByName(t, "S-JN01", "七年级数学A"); cm.Type != "scheduled" || cm.Subject != "14" {
			t.Errorf("scheduled class = %+v", cm)
		}
		ms, err := f.svc.MembershipOf(ctx, f.p["teacher"].User.ID)
		if err != nil || len(ms) != 2 {
			t.Fatalf("teacher memberships = %+v, %v", ms, err)
		}
		for _, m := range ms {
			want := map[string]string{"七年级1班": RoleHeadTeacher + ":", "七年级数学A": RoleTeacher + ":14"}[m.ClassName]
			if m.Role+":"+m.Subject != want {
				t.Errorf("teacher in %s: %s:%s, want %s", m.ClassName, m.Role, m.Subject, want)
			}
		}
		me, err := f.svc.Me(ctx, f.p["student"])
		if err != nil || len(me) != 1 || me[0].Name != "陈思远" || me[0].Number != "L101" || me[0].IDMasked != MaskID(idZhang) || me[0].BirthDate != "2013-03-05" {
			t.Errorf("student's own record = %+v, %v", me, err)
		}
		if n, _ := f.svc.StudentCount(ctx, school, ""); n != 3 {
			t.Errorf("students after bulk = %d", n)
		}

		delta := zipOf(t, map[string]string{
			"manifest.csv": manifest(map[string]string{"users": "delta", "enrollments": "delta", "demographics": "delta"}),
			"users.csv": csvText(usersHeader,
				userRow("u-s2", "active", "2026-10-02T08:00:00Z", "", "晓明", "刘", "L102", "07", ""),
				userRow("u-s3", "tobedeleted", "2026-10-02T08:00:00Z", "", "华", "孙", "L103", "07", "")),
			"demographics.csv": csvText("sourcedId,status,dateLastModified,birthDate,sex",
				"u-s1,active,2026-10-02T08:00:00Z,2013-03-05,male"),
			"enrollments.csv": csvText("sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate",
				"e3,tobedeleted,2026-10-02T08:00:00Z,cls-2,org-1,u-s3,student,false,,",
				"e7,active,2026-10-02T08:00:00Z,cls-2,org-1,u-s2,student,false,,"),
		})
		// users.csv in a delta names no role and roles.csv is absent:
		// the stored people say who they are.
		rep = f.imp(t, "school_admin", delta, "delta.zip", ImportOptions{})
		if !rep.Applied {
			t.Fatalf("delta not applied: %+v", rep.Problems)
		}
		if rep.Students != (Counts{Updated: 1, Deleted: 1}) || rep.Enrolments != (Counts{Created: 1, Deleted: 1}) || rep.Classes != (Counts{}) {
			t.Errorf("delta counts: students %+v enrolments %+v classes %+v", rep.Students, rep.Enrolments, rep.Classes)
		}
		if p, c, e := f.rows(t); p != 4 || c != 3 || e != 6 {
			t.Errorf("after delta: %d people, %d classes, %d enrolments; want 4, 3, 6 (nothing duplicated)", p, c, e)
		}
		c2, err := f.svc.Class(ctx, f.p["school_admin"], f.classByName(t, "S-JN01", "七年级2班").ID)
		if err != nil || names(c2.Students) != "刘晓明" {
			t.Errorf("class 2 after delta: %q, %v", names(c2.Students), err)
		}
		if n, _ := f.svc.StudentCount(ctx, school, "七年级"); n != 2 {
			t.Errorf("students after delta = %d, want 2", n)
		}
		if me, _ := f.svc.Me(ctx, f.p["student"]); len(me) != 1 || me[0].Gender != "1" || me[0].Name != "陈思远" {
			t.Errorf("demographics patch: %+v", me)
		}
		// A delta row without status or date is refused, and nothing changes.
		bad := zipOf(t, map[string]string{
			"manifest.csv": manifest(map[string]string{"users": "delta", "roles": "delta"}),
			"users.csv":    csvText(usersHeader, userRow("u-s2", "", "", "", "改名", "刘", "L102", "07", "")),
			"roles.csv": csvText("sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId",
				"r2,active,2026-10-03T08:00:00Z,u-s2,primary,student,,,org-1,"),
		})
		if rep = f.imp(t, "school_admin", bad, "bad.zip", ImportOptions{}); rep.Applied || !problemKeys(rep)["roster.err_status"] {
			t.Errorf("delta without status: %+v", rep)
		}
		if c2, _ := f.svc.Class(ctx, f.p["admin"], c2.Class.ID); names(c2.Students) != "刘晓明" {
			t.Errorf("a refused delta changed a name: %q", names(c2.Students))
		}
		// Another school's administrator cannot withdraw S-JN01's enrolments.
		steal := zipOf(t, map[string]string{
			"manifest.csv": manifest(map[string]string{"enrollments": "delta"}),
			"enrollments.csv": csvText("sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate",
				"e1,tobedeleted,2026-10-03T08:00:00Z,cls-1,org-1,u-s1,student,false,,"),
		})
		if rep = f.imp(t, "admin09", steal, "steal.zip", ImportOptions{}); rep.Applied || !problemKeys(rep)["roster.err_enrolment_unknown"] {
			t.Errorf("admin09 withdrawing an S-JN01 enrolment: %+v", rep)
		}
		if rep = f.imp(t, "school_admin", steal, "own.zip", ImportOptions{DryRun: true}); rep.Invalid != 0 || rep.Enrolments.Deleted != 1 {
			t.Errorf("the school's own administrator may withdraw it: %+v", rep)
		}
		// A second bulk users file leaves out u-s2: withdrawn.
		bulk2 := zipOf(t, map[string]string{
			"manifest.csv": manifest(map[string]string{"users": "bulk", "roles": "bulk"}),
			"users.csv":    csvText(usersHeader, userRow("u-s1", "", "", "student", "思远", "陈", "L101", "07", ""), userRow("u-t1", "", "", "teacher", "晓梅", "张", "T101", "", "")),
			"roles.csv": csvText("sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId",
				"r1,,,u-s1,primary,student,,,org-1,", "r4,,,u-t1,primary,teacher,,,org-1,"),
		})
		rep = f.imp(t, "school_admin", bulk2, "bulk2.zip", ImportOptions{})
		if !rep.Applied || rep.Students != (Counts{Updated: 1, Deleted: 1}) || rep.Teachers != (Counts{Updated: 1}) {
			t.Errorf("second bulk: %+v %+v %+v", rep.Students, rep.Teachers, rep.Problems)
		}
		if n, _ := f.svc.StudentCount(ctx, f.org["JN-EDU"].ID, ""); n != 1 {
			t.Errorf("students in the city after the second bulk = %d, want 1", n)
		}
		if me, _ := f.svc.Me(ctx, f.p["student"]); len(me) != 1 || me[0].IDMasked != MaskID(idZhang) {
			t.Errorf("a bulk file without the ID column kept the stored number? %+v", me)
		}
		if p, _, _ := f.rows(t); p != 4 {
			t.Errorf("%d people rows after the second bulk, want 4", p)
		}
	})
}
