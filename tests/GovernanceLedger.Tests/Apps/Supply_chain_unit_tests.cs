using System.Text.Json.Nodes;
using GovernanceLedger.Contracts.SupplyChain;
using GovernanceLedger.DataProxy.Revealing;
using GovernanceLedger.SupplyChain;

namespace GovernanceLedger.Tests.Apps;

/// <summary>Version order, OSV ranges, CVSS scores, purls and the risk score, decided without a host.</summary>
public sealed class Supply_chain_unit_tests
{
    [Theory]
    [InlineData("1.0.0", "1.0.0", 0)]
    [InlineData("1.0", "1.0.0", 0)]
    [InlineData("v1.2.3", "1.2.3", 0)]
    [InlineData("1.2.10", "1.2.9", 1)]
    [InlineData("2.0-beta9", "2.0", -1)]
    [InlineData("2.0-beta9", "2.0-beta10", -1)]
    [InlineData("2.15.0", "2.0-beta9", 1)]
    [InlineData("1.0.0-rc.1", "1.0.0", -1)]
    [InlineData("1.0rc1", "1.0", -1)]
    [InlineData("1.0.0+build.5", "1.0.0", 0)]
    [InlineData("4.17.19", "4.17.21", -1)]
    public void Versions_order_as_semantic_versioning_extended_to_dotted_forms(string a, string b, int expected)
    {
        Math.Sign(VersionOrder.Compare(a, b)).ShouldBe(expected);
        Math.Sign(VersionOrder.Compare(b, a)).ShouldBe(-expected);
    }

    [Fact]
    public void Osv_ranges_affect_from_introduced_up_to_fixed_or_through_last_affected()
    {
        var package = new AffectedPackage("npm", "x", ["0.9.1"],
            [new VersionRange("1.0.0", "1.4.2", null), new VersionRange("2.0.0", null, "2.1.0"), new VersionRange("3.0.0", null, null)]);
        AdvisoryMatcher.Affects(package, "0.9.1").Affected.ShouldBeTrue("listed");
        AdvisoryMatcher.Affects(package, "0.9.2").Affected.ShouldBeFalse();
        AdvisoryMatcher.Affects(package, "1.0.0").Affected.ShouldBeTrue();
        AdvisoryMatcher.Affects(package, "1.4.1").ShouldBe((true, "1.4.2"));
        AdvisoryMatcher.Affects(package, "1.4.2").Affected.ShouldBeFalse("fixed");
        AdvisoryMatcher.Affects(package, "2.1.0").Affected.ShouldBeTrue("last affected");
        AdvisoryMatcher.Affects(package, "2.1.1").Affected.ShouldBeFalse();
        AdvisoryMatcher.Affects(package, "9.0.0").Affected.ShouldBeTrue("open-ended");
        AdvisoryMatcher.Affects(new AffectedPackage("npm", "x", [], [new VersionRange("0", "1.0.0", null)]), "0.0.1").Affected.ShouldBeTrue();
    }

    [Fact]
    public void Osv_events_pair_each_introduced_with_the_next_fixed_and_git_ranges_are_skipped()
    {
        var (advisories, problems) = OsvRecords.Read(JsonNode.Parse("""
            [{"id":"OSV-1","affected":[{"package":{"ecosystem":"PyPI","name":"pkg"},
              "ranges":[{"type":"GIT","events":[{"introduced":"abc"}]},
                        {"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0"},{"introduced":"2.0"},{"last_affected":"2.5"}]}]}],
              "database_specific":{"severity":"MODERATE"}}]
            """)!.AsArray(), "advisories");
        problems.ShouldBeEmpty();
        var affected = advisories.Single().Affected.Single();
        affected.Ranges.ShouldBe([new VersionRange("0", "1.0", null), new VersionRange("2.0", null, "2.5")]);
        advisories.Single().Severity.ShouldBe(Severities.Medium);
    }

    [Theory]
    [InlineData("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0)]
    [InlineData("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)]
    [InlineData("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5)]
    [InlineData("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N", 6.1)]
    [InlineData("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", 5.3)]
    [InlineData("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8)]
    [InlineData("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0)]
    public void Cvss_base_scores_follow_the_specification(string vector, double expected) =>
        Cvss3.BaseScore(vector).ShouldBe(expected);

    [Fact]
    public void A_vector_that_is_not_cvss_3_has_no_score() =>
        Cvss3.BaseScore("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P").ShouldBeNull();

    [Theory]
    [InlineData("pkg:npm/lodash@4.17.21", "npm", "lodash", "4.17.21")]
    [InlineData("pkg:npm/%40angular/core@17.0.0", "npm", "@angular/core", "17.0.0")]
    [InlineData("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar", "Maven", "org.apache.logging.log4j:log4j-core", "2.14.1")]
    [InlineData("pkg:pypi/Django_Rest@3.0", "PyPI", "django-rest", "3.0")]
    [InlineData("pkg:nuget/Newtonsoft.Json@13.0.1", "NuGet", "Newtonsoft.Json", "13.0.1")]
    [InlineData("pkg:golang/github.com/gin-gonic/gin@v1.9.1", "Go", "github.com/gin-gonic/gin", "v1.9.1")]
    public void Purls_name_packages_as_osv_does(string purl, string ecosystem, string name, string version) =>
        Purl.Parse(purl, out _).ShouldBe((ecosystem, name, version));

    [Theory]
    [InlineData("npm/lodash@1.0.0")]
    [InlineData("pkg:npm/lodash")]
    [InlineData("pkg:docker/library/nginx@1.25")]
    public void A_purl_that_names_no_matchable_package_is_refused_with_the_reason(string purl)
    {
        Purl.Parse(purl, out var problem).ShouldBeNull();
        problem.ShouldNotBeNullOrWhiteSpace();
    }

    [Fact]
    public void Risk_adds_denials_a_new_region_and_unusual_volume()
    {
        var now = new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);
        RiskAssessment.Of(null, "EMEA", now).Score.ShouldBe(40, "no history: the region is new");
        var known = new EndUserActivity
        {
            Id = "u", Regions = { ["EMEA"] = now.AddDays(-3) },
            RequestsByDay = { ["2026-11-26"] = 10, ["2026-11-27"] = 12, ["2026-11-28"] = 11, ["2026-11-29"] = 11 },
            DenialsByHour = { ["2026-11-29T10"] = 2, ["2026-11-27T10"] = 9 }
        };
        var calm = RiskAssessment.Of(known, "EMEA", now);
        calm.Score.ShouldBe(20, "two denials today; the ones two days ago are past 24 hours");
        calm.UsualRequestsPerDay.ShouldBe(11);
        known.RequestsByDay["2026-11-29"] = 60;
        RiskAssessment.Of(known, "EMEA", now).Score.ShouldBe(50, "five times the usual day adds 30");
        RiskAssessment.Of(known, "NA", now).Score.ShouldBe(90);
    }
}
