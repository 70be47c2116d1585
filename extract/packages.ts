/** GitHub Packages extractors: packages of an organisation or user, and every version of each. */
import type { GitHubClient } from "./client.js";
import type { BatchWriter } from "./batch-writer.js";
import type { Logger } from "../log/logger.js";
import { packageRow, packageVersionRow } from "./records.js";
import type { PACKAGE_TYPES } from "./config.js";

export type PackageType = (typeof PACKAGE_TYPES)[number];
export interface PackageOwner {
  login: string;
  kind: "Organization" | "User";
}

export async function extractPackages(
  octokit: GitHubClient,
  writer: BatchWriter,
  owner: PackageOwner,
  packageType: PackageType,
  log: Logger,
): Promise<{ packages: number; versions: number }> {
  const at = () => new Date().toISOString();
  const listSource = `GET /${owner.kind === "Organization" ? "orgs" : "users"}/${owner.login}/packages?package_type=${packageType}`;
  const packages =
    owner.kind === "Organization"
      ? await octokit.paginate(octokit.rest.packages.listPackagesForOrganization, { org: owner.login, package_type: packageType, per_page: 100 })
      : await octokit.paginate(octokit.rest.packages.listPackagesForUser, { username: owner.login, package_type: packageType, per_page: 100 });
  const listedAt = at();
  let versions = 0;
  for (const pkg of packages) {
    await writer.write("packages", packageRow(owner.login, owner.kind, pkg, listedAt), listSource);
    const iterator =
      owner.kind === "Organization"
        ? octokit.paginate.iterator(octokit.rest.packages.getAllPackageVersionsForPackageOwnedByOrg, {
            org: owner.login,
            package_type: packageType,
            package_name: pkg.name,
            per_page: 100,
            state: "active",
          })
        : octokit.paginate.iterator(octokit.rest.packages.getAllPackageVersionsForPackageOwnedByUser, {
            username: owner.login,
            package_type: packageType,
            package_name: pkg.name,
            per_page: 100,
            state: "active",
          });
    for await (const page of iterator) {
      const pageAt = at();
      for (const v of page.data) {
        await writer.write("package_versions", packageVersionRow(owner.login, pkg, v, pageAt), `${listSource} → ${pkg.name} versions`);
        versions += 1;
      }
    }
  }
  log.debug("packages extracted", { owner: owner.login, package_type: packageType, packages: packages.length, versions });
  return { packages: packages.length, versions };
}
