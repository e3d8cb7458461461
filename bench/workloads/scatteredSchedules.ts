const ZONES = [
  "UTC",
  "Europe/Berlin",
  "Europe/London",
  "America/New_York",
  "America/Los_Angeles",
  "Asia/Tokyo",
  "Asia/Kolkata",
  "Australia/Sydney",
];

export interface Schedule {
  cron: string;
  zone: string;
}

/**
 * `count` scattered schedules, the same on every call: 70 % daily, 25 % hourly, 5 %
 * every ten minutes, at a pseudo-random second (never :00) and minute, over 8 zones.
 */
export function scatteredSchedules(count: number): Schedule[] {
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 48_271) % 2_147_483_647;
    return seed % n;
  };
  return Array.from({ length: count }, (_, i) => {
    const second = 1 + random(59);
    const minute = random(60);
    const zone = ZONES[i % ZONES.length]!;
    const kind = i % 20;
    if (kind === 0) return { cron: `${second} ${minute % 10}/10 * * * *`, zone };
    if (kind <= 5) return { cron: `${second} ${minute} * * * *`, zone };
    return { cron: `${second} ${minute} ${random(24)} * * *`, zone };
  });
}
scatteredSchedules.description =
  "70 % daily, 25 % hourly, 5 % every ten minutes, each at a pseudo-random minute and second (never :00), over 8 IANA zones, 100 tenants";
