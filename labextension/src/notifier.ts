/**
 * The model's notices as JupyterLab notifications (the toasts, and the bell's list).
 */
import { Notification } from '@jupyterlab/apputils';

import { INoticeActions, INotifier } from './model';
import { INotice } from './notices';

export const labNotifier: INotifier = {
  notice(notice: INotice, actions: INoticeActions): void {
    const buttons: Notification.IAction[] = notice.failed
      ? [
          {
            label: 'Show logs',
            caption: `Open the Caliban panel at the log of the failed job of ${notice.xgroup}`,
            callback: actions.showLogs
          },
          {
            label: 'Resubmit',
            caption: `Resubmit the failed jobs of ${notice.xgroup}`,
            callback: actions.resubmit
          }
        ]
      : notice.kind === 'finished'
        ? [
            {
              label: 'Show',
              caption: `Show ${notice.xgroup} in the Caliban panel`,
              callback: actions.show
            }
          ]
        : [];
    const autoClose =
      notice.kind === 'submission-failed'
        ? false
        : notice.failed
          ? 15000
          : 8000;
    Notification[notice.level](notice.message, { autoClose, actions: buttons });
  },
  info(message: string): void {
    Notification.info(message, { autoClose: 4000 });
  },
  error(message: string): void {
    Notification.error(message, { autoClose: 10000 });
  }
};
