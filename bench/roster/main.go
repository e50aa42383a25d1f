// Command roster times a roster import of a realistic city slice: -schools
// demo schools with -students students in classes of 45 (初一 to 高三) and
// their teachers (a head teacher and two subject teachers per class), written
// as a student list and a teacher list in UTF-8 and in GBK. Each engine gets
// a fresh data folder (SQLite) or a throwaway database (PostgreSQL), the demo
// organisations, then, through `jnedu roster import` (the same path as the
// command line): a dry run of the students, the students in UTF-8, the
// teachers, and the students again in GBK (every row an update).
//
//	go run ./bench/roster                      # SQLite and PostgreSQL
//	go run ./bench/roster -engines sqlite -students 5000
//
// Not part of CI.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/text/encoding/simplifiedchinese"

	"jnedu/internal/app"
	"jnedu/internal/roster"
)

func main() {
	schools := flag.Int("schools", 20, "schools (S-JN01 …, at most 20)")
	students := flag.Int("students", 30000, "students in all")
	engines := flag.String("engines", "sqlite,postgres", "engines to run")
	pg := flag.String("pg", "postgres://postgres@127.0.0.1:5432", "PostgreSQL server for the throwaway database")
	flag.Parse()
	if *schools < 1 || *schools > 20 {
		fail(fmt.Errorf("-schools must be 1 to 20"))
	}
	dir, err := os.MkdirTemp("", "jnedu-bench-roster-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	sUTF8, tUTF8, nClasses, nTeachers := generate(*schools, *students)
	files := map[string][]byte{"students.csv": []byte(sUTF8), "teachers.csv": []byte(tUTF8)}
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(sUTF8))
	if err != nil {
		fail(err)
	}
	files["students-gbk.csv"] = gbk
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			fail(err)
		}
	}
	fmt.Printf("city slice: %d schools, %d students, %d classes, %d teachers; student list %.1f MB (UTF-8), %.1f MB (GBK)\n",
		*schools, *students, nClasses, nTeachers, float64(len(sUTF8))/1e6, float64(len(gbk))/1e6)
	for _, engine := range strings.Split(*engines, ",") {
		if err := run(engine, dir, *pg); err != nil {
			fail(fmt.Errorf("%s: %w", engine, err))
		}
	}
}

func run(engine, dir, pg string) error {
	data := filepath.Join(dir, engine)
	env := map[string]string{"JNEDU_DATA_DIR": data, "JNEDU_LOG_LEVEL": "warn"}
	if engine == "postgres" {
		name := fmt.Sprintf("jnedu_bench_roster_%d", time.Now().UnixNano())
		admin, err := sql.Open("pgx", pg+"/postgres?sslmode=disable")
		if err != nil {
			return err
		}
		defer admin.Close()
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			return err
		}
		defer admin.Exec("DROP DATABASE " + name + " WITH (FORCE)") //nolint:errcheck
		env["DATABASE_URL"] = pg + "/" + name + "?sslmode=disable"
	}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	cmd := func(args ...string) (time.Duration, error) {
		start := time.Now()
		var errOut strings.Builder
		if code := app.Main(ctx, args, io.Discard, &errOut, getenv); code != 0 {
			return 0, fmt.Errorf("jnedu %s: %s", strings.Join(args, " "), errOut.String())
		}
		return time.Since(start), nil
	}
	if _, err := cmd("demo"); err != nil {
		return err
	}
	fmt.Printf("\n%s\n", engine)
	for _, step := range []struct {
		what string
		args []string
	}{
		{"students, dry run (UTF-8)", []string{"roster", "import", "-dry-run", filepath.Join(dir, "students.csv")}},
		{"students, first import (UTF-8)", []string{"roster", "import", filepath.Join(dir, "students.csv")}},
		{"teachers (UTF-8)", []string{"roster", "import", filepath.Join(dir, "teachers.csv")}},
		{"students again (GBK, all updates)", []string{"roster", "import", filepath.Join(dir, "students-gbk.csv")}},
	} {
		d, err := cmd(step.args...)
		if err != nil {
			return err
		}
		fmt.Printf("  %-36s %7.2f s\n", step.what, d.Seconds())
	}
	return nil
}

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	given    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉俊帅浩宇轩然梓涵子怡欣雨晨博文思远佳琪嘉")
	grades   = []string{"七年级", "八年级", "九年级", "高一", "高二", "高三"}
	subjects = []string{"语文", "数学", "英语", "物理", "化学", "道德与法治"}
	ethnic   = []string{"汉族", "汉族", "汉族", "汉族", "回族", "满族", "蒙古族"}
)

func name(i int) string {
	return string(surnames[i%len(surnames)]) + string(given[(i/7)%len(given)]) + string(given[(i/131)%len(given)])
}

// idNumber makes a valid GB 11643 number for a person born in year.
func idNumber(i, year int) string {
	s := fmt.Sprintf("3701%02d%04d%02d%02d%03d", 2+i%11, year, 1+i%12, 1+i%28, i%1000)
	return s + string(roster.IDCheckChar(s))
}

func generate(schools, students int) (string, string, int, int) {
	var s, t strings.Builder
	s.WriteString("学籍号,姓名,性别,出生日期,身份证号,民族,学校代码,年级,班级\r\n")
	t.WriteString("工号,姓名,性别,学校代码,任教年级,任教班级,任教学科,是否班主任\r\n")
	perSchool := students / schools
	classes, teachers, n := 0, 0, 0
	for sc := 1; sc <= schools; sc++ {
		code := fmt.Sprintf("S-JN%02d", sc)
		count := perSchool
		if sc == schools {
			count = students - perSchool*(schools-1)
		}
		for k := 0; k < count; k++ {
			grade := k * len(grades) / count
			class := fmt.Sprintf("%d班", 1+(k%(count/len(grades)+1))/45)
			year := 2013 - grade
			id := idNumber(n, year)
			gender := "女"
			if (id[16]-'0')%2 == 1 {
				gender = "男"
			}
			fmt.Fprintf(&s, "G%s,%s,%s,%s-%s-%s,%s,%s,%s,%s,%s\r\n", id, name(n), gender, id[6:10], id[10:12], id[12:14], id,
				ethnic[n%len(ethnic)], code, grades[grade], class)
			n++
		}
		// Teachers: one head teacher and two subject teachers per class.
		seen := map[string]bool{}
		for k := 0; k < count; k++ {
			grade := k * len(grades) / count
			class := fmt.Sprintf("%d班", 1+(k%(count/len(grades)+1))/45)
			key := grades[grade] + class
			if seen[key] {
				continue
			}
			seen[key] = true
			classes++
			for j := 0; j < 3; j++ {
				teachers++
				head := "否"
				if j == 0 {
					head = "是"
				}
				fmt.Fprintf(&t, "%s-T%05d,%s,%s,%s,%s,%s,%s,%s\r\n", code, teachers, name(teachers*13+j), []string{"男", "女"}[teachers%2], code,
					grades[grade], class, subjects[(classes+j)%len(subjects)], head)
			}
		}
	}
	return s.String(), t.String(), classes, teachers
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/roster:", err)
	os.Exit(1)
}
