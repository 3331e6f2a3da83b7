// Who is logged in and what they may do. The page offers only what the role allows;
// the API refuses the rest anyway.
import { get, post, setCsrfToken } from "./api.js";

let current = null;

export async function load() {
  try {
    current = await get("/api/auth/me");
  } catch (error) {
    if (error.status === 401 || error.status === 403) current = null;
    else throw error;
  }
  setCsrfToken(current?.csrf_token);
  return current;
}

export async function login(username, password) {
  await post("/api/auth/login", { username, password });
  return load();
}

export async function logout() {
  try {
    await post("/api/auth/logout", {});
  } finally {
    current = null;
    setCsrfToken(null);
  }
}

export function user() {
  return current;
}

/** Whether the session holds a permission ("processes:execute"); "*" or "area:*" grant all. */
export function can(permission) {
  const perms = current?.permissions || [];
  if (perms.includes("*") || perms.includes(permission)) return true;
  const [area] = permission.split(":");
  return perms.includes(`${area}:*`);
}
